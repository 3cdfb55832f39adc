"""Gender statistics: consent first, no group smaller than k, nothing recomputable, and
self-descriptions never leave the owner's record."""

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from members import privacy
from members.models import GenderIdentity, User
from tests.factories import GenderIdentityFactory, UserFactory

pytestmark = pytest.mark.django_db

K = 5


@pytest.fixture(autouse=True)
def _k_is_five(settings):
    settings.PRIVACY_MIN_GROUP_SIZE = K


def people(count: int, gender: str | None, *, consent: bool = True, text: str = "") -> list[User]:
    """`count` people; `gender=None` means they never filled in the form."""
    users = UserFactory.create_batch(count)
    if gender is not None:
        for user in users:
            GenderIdentityFactory(
                user=user, gender=gender, statistics_consent=consent, self_description=text
            )
    return users


def counts(users=None, **kwargs) -> privacy.GenderCounts:
    queryset = (
        User.objects.all() if users is None else User.objects.filter(pk__in=[u.pk for u in users])
    )
    return privacy.gender_counts(users=queryset, **kwargs)


def test_large_groups_are_counted_per_category():
    people(6, "woman")
    people(5, "man")
    people(7, None)

    result = counts()

    assert result.cells == {
        "woman": 6,
        "man": 5,
        "non_binary": 0,
        "self_described": 0,
        "undisclosed": 7,
    }
    assert result.total == 18
    assert result.k == K


def test_people_without_consent_count_as_undisclosed():
    people(6, "woman", consent=False)
    people(5, "man")

    result = counts()

    assert result.cells["woman"] == 0
    assert result.cells["undisclosed"] == 6
    assert result.cells["man"] == 5


def test_withdrawing_consent_removes_the_person_from_later_figures():
    women = people(5, "woman")
    people(6, "man")
    assert counts().cells["woman"] == 5

    privacy.gender_set(user=women[0], gender="woman", statistics_consent=False)
    later = counts()

    assert later.cells["woman"] is None  # 4 women: below k
    assert later.total == 11


def test_a_small_group_is_shown_as_fewer_than_k_and_so_is_the_next_smallest():
    people(7, "woman")
    people(6, "man")
    people(2, "non_binary")

    result = counts()

    assert result.cells["non_binary"] is None
    # Otherwise 15 - 7 - 6 would give the two non-binary people away.
    assert result.cells["man"] is None
    assert result.cells["woman"] == 7
    assert result.cells["self_described"] == 0
    assert result.cells["undisclosed"] == 0
    assert result.total == 15


def test_the_secondary_suppression_hides_the_smallest_shown_cell_not_a_zero():
    people(9, "woman")
    people(5, "man")
    people(1, "self_described", text="agender")
    people(8, None)

    result = counts()

    assert result.cells["self_described"] is None
    assert result.cells["man"] is None
    assert result.cells["woman"] == 9
    assert result.cells["undisclosed"] == 8
    assert result.cells["non_binary"] == 0


def test_two_small_groups_hide_each_other_and_nothing_else():
    people(8, "woman")
    people(6, "man")
    people(2, "non_binary")
    people(3, "self_described", text="x")

    result = counts()

    assert result.cells == {
        "woman": 8,
        "man": 6,
        "non_binary": None,
        "self_described": None,
        "undisclosed": 0,
    }


@pytest.mark.parametrize("size", range(1, K))
def test_a_group_smaller_than_k_shows_no_total_and_no_share(size):
    people(size, "woman")

    result = counts()

    assert result.total is None
    assert result.cells["woman"] is None
    assert result.share("woman") is None
    assert result.share("man") is None


def test_a_group_smaller_than_k_does_not_reveal_which_categories_are_empty():
    people(3, "woman")

    result = counts()

    assert set(result.cells.values()) == {None}


def test_an_empty_group_is_zero_everywhere_without_shares():
    result = counts(users=[])

    assert result.total == 0
    assert set(result.cells.values()) == {0}
    assert result.share("woman") is None


def test_share_is_given_only_for_shown_cells_of_a_large_enough_group():
    people(6, "woman")
    people(5, "man")
    people(1, "non_binary")

    result = counts()

    assert result.share("woman") == pytest.approx(6 / 12)
    assert result.share("man") is None  # hidden by secondary suppression
    assert result.share("non_binary") is None
    assert result.share("undisclosed") == 0


def test_a_larger_k_can_be_asked_for():
    people(6, "woman")
    people(6, "man")

    assert counts(k=10).cells["woman"] is None
    assert counts(k=10).total == 12
    assert counts().cells["woman"] == 6


def test_counts_only_cover_the_people_asked_about():
    women = people(5, "woman")
    people(20, "man")

    result = counts(users=women)

    assert result.cells["woman"] == 5
    assert result.cells["man"] == 0
    assert result.total == 5


def test_self_descriptions_never_appear_in_the_figures():
    people(6, "self_described", text="Nebula-4411-words")
    people(6, "woman")

    result = counts()

    assert result.cells["self_described"] == 6
    assert "Nebula-4411-words" not in repr(result)
    assert "Nebula-4411-words" not in repr(result.cells)


def test_counts_are_computed_with_a_fixed_number_of_queries(django_assert_num_queries):
    people(20, "woman")
    people(20, None)

    with django_assert_num_queries(1):
        counts()


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
