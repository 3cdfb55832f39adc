"""Gender statistics: consent first, every published figure is 0, a multiple of k or
"fewer than k", nothing recomputable, and self-descriptions never leave the owner's record."""

import itertools

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q

from events.models import Registration, StageRole
from members import privacy
from members.models import GenderIdentity, User
from tests.events.factories import EventFactory, RegistrationFactory, StageRoleFactory
from tests.factories import GenderIdentityFactory, UserFactory

pytestmark = pytest.mark.django_db

K = 5
CATEGORIES = privacy.STATISTICS_CATEGORIES
_emails = itertools.count()


@pytest.fixture(autouse=True)
def _k_is_five(settings):
    settings.PRIVACY_MIN_GROUP_SIZE = K


def people(count: int, gender: str | None, *, consent: bool = True, text: str = "") -> list[User]:
    """`count` people (written in bulk); `gender=None` means they never filled in the form."""
    users = User.objects.bulk_create(
        [User(email=f"privacy{next(_emails)}@example.org") for _ in range(count)]
    )
    if gender is not None:
        GenderIdentity.objects.bulk_create(
            [
                GenderIdentity(
                    user=user, gender=gender, statistics_consent=consent, self_description=text
                )
                for user in users
            ]
        )
    return users


def counts(users=None, **kwargs) -> privacy.GenderCounts:
    queryset = (
        User.objects.all() if users is None else User.objects.filter(pk__in=[u.pk for u in users])
    )
    return privacy.gender_counts(users=queryset, **kwargs)


def raw(**cells: int) -> dict[str, int]:
    return {c: cells.get(c, 0) for c in CATEGORIES}


# --- publish: the rounding and suppression table ------------------------------------


@pytest.mark.parametrize("k", [3, 5, 10])
def test_zero_to_k_minus_one_is_hidden_zero_included(k):
    # The other cells make the group large enough for any cell to be shown. A zero is
    # hidden too: otherwise the first person to join a category would be singled out.
    for value in range(k):
        result = privacy.publish(raw(woman=value, man=3 * k), k=k)
        assert result.cells["woman"] is None, value
        assert result.k == k


@pytest.mark.parametrize("k", [3, 5, 10])
def test_multiples_of_k_are_shown_exactly(k):
    for value in (k, 2 * k, 7 * k, 100 * k):
        assert privacy.publish(raw(woman=value, man=3 * k + 1), k=k).cells["woman"] == value


@pytest.mark.parametrize("k", [3, 5, 10])
def test_other_counts_show_one_of_their_two_neighbouring_multiples_of_k(k):
    for value in range(k, 6 * k):
        for man in range(k, 3 * k):
            shown = privacy.publish(raw(woman=value, man=man), k=k).cells["woman"]
            assert shown in {k * (value // k), k * -(-value // k)}, (value, man, shown)


def test_the_same_counts_always_give_the_same_figures():
    # Reloading a page cannot average the rounding away.
    figures = [privacy.publish(raw(woman=7, man=13, undisclosed=6), k=5) for _ in range(20)]

    assert all(f == figures[0] for f in figures)


def test_the_rounding_is_unbiased_and_drawn_anew_for_each_table():
    # 7 women in 1,000 different tables: rounded up to 10 about 2 times in 5, down to 5
    # otherwise — on average the true 7 — and not the same way in every table.
    shown = [privacy.publish(raw(woman=7, man=man), k=5).cells["woman"] for man in range(20, 1020)]

    assert set(shown) == {5, 10}
    assert 0.34 < shown.count(10) / len(shown) < 0.46


def test_the_rounding_of_one_cell_depends_on_the_whole_table():
    # One more person in another category draws this cell's rounding anew.
    shown = {privacy.publish(raw(woman=7, man=man), k=5).cells["woman"] for man in range(20, 40)}

    assert shown == {5, 10}


@pytest.mark.parametrize("total", [0, 5, 10, 15, 20, 100])
def test_a_total_that_is_a_multiple_of_k_is_shown_exactly(total):
    assert privacy.publish(raw(man=total), k=5).total == total


def test_other_totals_show_one_of_their_two_neighbouring_multiples():
    for total in range(5, 60):
        assert privacy.publish(raw(man=total), k=5).total in {5 * (total // 5), 5 * -(-total // 5)}


@pytest.mark.parametrize("k", [3, 5, 10])
@pytest.mark.parametrize("cells", [{"woman": 1}, {"man": 1, "non_binary": 1}, {"undisclosed": 2}])
def test_a_group_of_fewer_than_k_shows_nothing_at_all(k, cells):
    result = privacy.publish(raw(**cells), k=k)

    assert result.total is None
    assert set(result.cells.values()) == {None}
    assert {result.share(c) for c in CATEGORIES} == {None}


def test_the_total_is_rounded_from_the_true_total_not_from_the_rounded_cells():
    # 6 + 6 + 8 = 20 is shown as 20, whichever way each cell is rounded.
    for extra in range(10):
        result = privacy.publish(raw(woman=6, man=6, undisclosed=8 + 5 * extra), k=5)

        assert result.total == 20 + 5 * extra
        assert result.cells["woman"] in {5, 10}
        assert result.cells["non_binary"] is None


def test_published_figures_default_to_the_configured_k(settings):
    settings.PRIVACY_MIN_GROUP_SIZE = 3

    result = privacy.publish(raw(woman=4, man=2))

    assert result.k == 3
    assert result.cells["woman"] in {3, 6}
    assert result.cells["man"] is None
    assert result.total == 6


@pytest.mark.parametrize("k", [3, 5, 10])
def test_no_sum_or_difference_of_shown_figures_is_between_one_and_k_minus_one(k):
    for cells in itertools.product(range(0, 2 * k + 3), repeat=2):
        result = privacy.publish(raw(woman=cells[0], man=cells[1]), k=k)
        shown = [v for v in [*result.cells.values(), result.total] if v is not None]
        assert all(v % k == 0 for v in shown), (cells, result)


# --- shares -------------------------------------------------------------------------


def test_shares_are_computed_from_the_published_numbers():
    exact = privacy.publish(raw(woman=10, man=5), k=5)
    assert exact.share("woman") == pytest.approx(10 / 15)
    assert exact.share("man") == pytest.approx(5 / 15)
    assert exact.share("non_binary") is None  # hidden, even when empty

    for man in range(8, 30):
        rounded = privacy.publish(raw(woman=7, man=man), k=5)
        assert rounded.share("woman") == pytest.approx(rounded.cells["woman"] / rounded.total)


def test_no_share_of_a_hidden_cell_or_of_an_empty_group():
    result = privacy.publish(raw(woman=2, man=10), k=5)

    assert result.share("woman") is None
    assert result.share("man") == pytest.approx(10 / result.total)
    assert privacy.publish(raw(), k=5).share("woman") is None


def test_no_share_when_the_published_total_is_below_k():
    # Hand-built: a published total below k never comes out of `publish`, but `share`
    # must refuse it on its own.
    figures = privacy.GenderCounts(cells=dict.fromkeys(CATEGORIES, 0) | {"woman": 3}, total=3, k=5)

    assert figures.share("woman") is None


# --- gender_counts on real people ---------------------------------------------------


def test_large_groups_are_counted_per_category_and_rounded():
    people(5, "woman")
    people(10, "man")
    people(10, None)

    result = counts()

    assert result.cells == {
        "woman": 5,
        "man": 10,
        "non_binary": None,
        "self_described": None,
        "undisclosed": 10,
    }
    assert result.total == 25
    assert result.k == K


def test_people_without_consent_count_as_undisclosed():
    people(5, "woman", consent=False)
    people(5, "man")

    result = counts()

    assert result.cells["woman"] is None
    assert result.cells["undisclosed"] == 5
    assert result.cells["man"] == 5


def test_people_who_chose_not_to_say_count_as_undisclosed():
    people(5, "undisclosed")
    people(5, None)

    assert counts().cells["undisclosed"] == 10


def test_withdrawing_consent_removes_the_person_from_later_figures():
    women = people(5, "woman")
    people(5, "man")
    assert counts().cells["woman"] == 5

    privacy.gender_set(user=women[0], gender="woman", statistics_consent=False)
    later = counts()

    assert later.cells["woman"] is None  # 4 women: fewer than k
    assert later.cells["undisclosed"] is None  # the one who withdrew
    assert later.cells["man"] == 5
    assert later.total == 10


def test_withdrawing_consent_reaches_figures_about_registrations_too():
    women = people(5, "woman")
    event = EventFactory()
    for user in women:
        RegistrationFactory(event=event, user=user)
    rows = Registration.objects.filter(event=event)
    assert privacy.gender_breakdown(rows)[0].measures["total"].cells["woman"] == 5

    privacy.gender_set(user=women[2], gender="woman", statistics_consent=False)

    after = privacy.gender_breakdown(rows)[0].measures["total"]
    assert after.cells["woman"] is None
    assert after.cells["undisclosed"] is None
    assert after.total == 5


@pytest.mark.parametrize("size", range(1, K))
def test_a_group_smaller_than_k_shows_no_total_and_no_share(size):
    people(size, "woman")

    result = counts()

    assert result.total is None
    assert set(result.cells.values()) == {None}
    assert result.share("woman") is None
    assert result.share("man") is None


def test_a_small_cell_is_hidden_and_the_others_need_no_extra_suppression():
    people(10, "woman")
    people(5, "man")
    people(2, "non_binary")

    result = counts()

    assert result.cells == {
        "woman": 10,
        "man": 5,
        "non_binary": None,
        "self_described": None,
        "undisclosed": None,
    }
    assert result.total in {15, 20}  # 17 people
    # The difference the old secondary suppression guarded against is no longer telling.
    assert (result.total - result.cells["woman"] - result.cells["man"]) % K == 0


def test_an_empty_group_is_zero_everywhere_without_shares():
    result = counts(users=[])

    assert result.total == 0
    assert set(result.cells.values()) == {0}
    assert result.share("woman") is None


def test_a_larger_k_can_be_asked_for():
    people(5, "woman")
    people(5, "man")

    assert counts(k=10).cells["woman"] is None
    assert counts(k=10).total == 10
    assert counts().cells["woman"] == 5


def test_counts_only_cover_the_people_asked_about():
    women = people(5, "woman")
    people(20, "man")

    result = counts(users=women)

    assert result.cells["woman"] == 5
    assert result.cells["man"] is None
    assert result.total == 5


def test_self_descriptions_never_appear_in_the_figures():
    people(5, "self_described", text="Nebula-4411-words")
    people(5, "woman")
    event = EventFactory()
    for user in User.objects.all():
        RegistrationFactory(event=event, user=user)

    result = counts()
    breakdown = privacy.gender_breakdown(
        Registration.objects.all(), group_by=["event"], measures={"all": Q(), "none": Q(pk=0)}
    )

    assert result.cells["self_described"] == 5
    assert breakdown[0].measures["all"].cells["self_described"] == 5
    for figures in (result, breakdown):
        assert "Nebula" not in repr(figures)
        assert "Nebula" not in str(figures)


def test_counts_are_computed_with_a_fixed_number_of_queries(django_assert_num_queries):
    people(20, "woman")
    people(20, None)

    with django_assert_num_queries(1):
        counts()


# --- gender_breakdown -----------------------------------------------------------------


def test_distinct_counts_people_not_rows():
    women = people(5, "woman")
    first, second = EventFactory(), EventFactory()
    for user in women:
        RegistrationFactory(event=first, user=user)
        RegistrationFactory(event=second, user=user)
    rows = Registration.objects.all()

    assert privacy.gender_breakdown(rows)[0].measures["total"].cells["woman"] == 10
    assert privacy.gender_breakdown(rows, distinct=True)[0].measures["total"].cells["woman"] == 5


def test_each_measure_counts_its_own_rows():
    women, men = people(5, "woman"), people(10, "man")
    event = EventFactory()
    for user in women:
        RegistrationFactory(event=event, user=user, status=Registration.Status.ATTENDED)
    for user in men:
        RegistrationFactory(event=event, user=user, status=Registration.Status.NO_SHOW)

    [row] = privacy.gender_breakdown(
        Registration.objects.all(),
        measures={"attended": Q(status="attended"), "no_show": Q(status="no_show")},
    )

    assert row.group == {}
    assert row.measures["attended"].cells["woman"] == 5
    assert row.measures["attended"].cells["man"] is None
    assert row.measures["no_show"].cells["man"] == 10
    assert row.measures["no_show"].total == 10


def test_consenting_guests_on_stage_count_by_their_recorded_gender():
    event = EventFactory()
    for _ in range(5):
        StageRoleFactory(event=event, guest_gender="woman", guest_gender_consent=True)
    for _ in range(5):
        StageRoleFactory(event=event)  # a guest whose gender was not recorded
    speakers = people(5, "man")
    for user in speakers:
        StageRoleFactory(event=event, guest_name="", profile=_profile(user))

    [row] = privacy.gender_breakdown(
        StageRole.objects.all(), person="profile__user", guest_gender="guest_gender"
    )

    assert row.measures["total"].cells == {
        "woman": 5,
        "man": 5,
        "non_binary": None,
        "self_described": None,
        "undisclosed": 5,
    }
    assert row.measures["total"].total == 15


def _profile(user):
    from tests.factories import ProfileFactory

    return ProfileFactory(user=user)


def test_group_by_gives_one_breakdown_per_group_in_order():
    big, small = EventFactory(), EventFactory()
    for user in people(5, "woman"):
        RegistrationFactory(event=big, user=user)
    for user in people(2, "man"):
        RegistrationFactory(event=small, user=user)

    rows = privacy.gender_breakdown(Registration.objects.all(), group_by=["event"])

    assert [row.group for row in rows] == [{"event": big.pk}, {"event": small.pk}]
    assert rows[0].measures["total"].cells["woman"] == 5
    assert rows[0].measures["total"].total == 5
    assert rows[1].measures["total"].total is None
    assert set(rows[1].measures["total"].cells.values()) == {None}


@pytest.mark.parametrize("size", [5, 40])
def test_one_query_per_breakdown_whatever_the_size(size, django_assert_num_queries):
    events = [EventFactory() for _ in range(3)]
    for i, user in enumerate(people(size, "woman") + people(size, None)):
        RegistrationFactory(event=events[i % 3], user=user)

    with django_assert_num_queries(1):
        privacy.gender_breakdown(
            Registration.objects.all(), measures={"all": Q(), "attended": Q(status="attended")}
        )
    with django_assert_num_queries(1):
        privacy.gender_breakdown(
            Registration.objects.all(),
            measures={"all": Q(), "attended": Q(status="attended")},
            group_by=["event"],
        )
    with django_assert_num_queries(1):
        privacy.gender_breakdown(
            Registration.objects.all(),
            measures={"all": Q(), "attended": Q(status="attended")},
            distinct=True,
        )


def test_people_are_not_counted_per_group():
    with pytest.raises(ValueError, match="not per group"):
        privacy.gender_breakdown(Registration.objects.all(), group_by=["event"], distinct=True)


# --- gender_set ----------------------------------------------------------------------


def test_gender_set_keeps_the_words_only_for_self_description():
    user = UserFactory()

    record = privacy.gender_set(
        user=user, gender="woman", self_description="ignored words", statistics_consent=True
    )

    assert record.self_description == ""
    record = privacy.gender_set(
        user=user, gender="self_described", self_description="  demigirl ", statistics_consent=True
    )
    assert record.self_description == "demigirl"
    record = privacy.gender_set(user=user, gender="man", statistics_consent=True)
    assert record.self_description == ""
    assert GenderIdentity.objects.get(user=user).self_description == ""


def test_gender_set_refuses_self_description_without_words():
    user = UserFactory()

    with pytest.raises(ValidationError):
        privacy.gender_set(
            user=user, gender="self_described", self_description="  ", statistics_consent=True
        )

    assert not GenderIdentity.objects.filter(user=user).exists()


def test_gender_set_refuses_unknown_choices():
    with pytest.raises(ValidationError):
        privacy.gender_set(user=UserFactory(), gender="other", statistics_consent=True)

    assert not GenderIdentity.objects.exists()


def test_gender_set_stamps_consent_changes_only():
    user = UserFactory()
    first = privacy.gender_set(user=user, gender="woman", statistics_consent=True)
    stamped = first.consent_changed_at
    assert stamped is not None

    same = privacy.gender_set(user=user, gender="man", statistics_consent=True)
    assert same.consent_changed_at == stamped

    withdrawn = privacy.gender_set(user=user, gender="man", statistics_consent=False)
    assert withdrawn.consent_changed_at > stamped
    assert GenderIdentity.objects.filter(user=user).count() == 1


def test_the_database_refuses_words_for_another_choice():
    record = GenderIdentityFactory(gender="woman")

    with pytest.raises(IntegrityError), transaction.atomic():
        GenderIdentity.objects.filter(pk=record.pk).update(self_description="leaked words")


def test_gender_clear_forgets_the_record():
    record = GenderIdentityFactory(gender="woman")

    privacy.gender_clear(user=record.user)

    assert privacy.gender_for_owner(user=record.user) is None


def test_the_records_text_form_never_names_the_gender():
    record = GenderIdentityFactory(gender="self_described", self_description="Nebula-4411-words")

    assert "Nebula" not in str(record)
    assert "self_described" not in str(record)
    assert "describe" not in str(record).lower()


def test_tables_from_one_scan_equal_their_own_breakdowns(django_assert_num_queries):
    """Each table of `gender_tables` sums the raw counts before publishing: the same
    figures as its own grouped query, not sums of rounded figures."""
    events = [EventFactory(kind=kind) for kind in ("webinar", "training", "webinar")]
    for i, user in enumerate(people(23, "woman") + people(17, "man") + people(6, None)):
        RegistrationFactory(
            event=events[i % 3], user=user, status="attended" if i % 4 else "no_show"
        )
    rows = Registration.objects.all()
    measures = {"all": Q(), "attended": Q(status="attended")}

    with django_assert_num_queries(1):
        tables = privacy.gender_tables(
            rows,
            measures=measures,
            tables={"event": ["event"], "kind": ["event__kind"], "all": []},
        )

    for name, group_by in {"event": ["event"], "kind": ["event__kind"], "all": []}.items():
        assert tables[name] == privacy.gender_breakdown(rows, measures=measures, group_by=group_by)
    assert [row.group for row in tables["kind"]] == [
        {"event__kind": "training"},
        {"event__kind": "webinar"},
    ]


def test_people_counted_once_with_each_measure_if_any_row_meets_it():
    first, second = EventFactory(), EventFactory()
    for user in people(5, "woman"):  # each attended one event and missed the other
        RegistrationFactory(event=first, user=user, status="attended")
        RegistrationFactory(event=second, user=user, status="no_show")
    for user in people(5, "woman"):  # missed one
        RegistrationFactory(event=second, user=user, status="no_show")

    [row] = privacy.gender_breakdown(
        Registration.objects.all(),
        measures={"registered": Q(), "attended": Q(status="attended")},
        distinct=True,
    )

    assert row.measures["registered"].cells["woman"] == 10  # 15 registrations
    assert row.measures["attended"].cells["woman"] == 5


def test_no_category_shows_more_people_than_the_whole_group():
    for total in range(7, 40):
        for others in range(3):
            result = privacy.publish(raw(woman=total - others, man=others), k=5)
            assert result.cells["woman"] <= result.total, (total, others, result)
            assert result.share("woman") <= 1
