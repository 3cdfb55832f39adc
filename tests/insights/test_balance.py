"""Gender balance of events on hand-built events: funnels, the stage and its flags,
targets, trends, kinds, topics and the pipeline — every figure as published (k = 5).

Registration figures are releases; here they are drawn without noise (`exact_releases`),
so a test states the raw counts it expects and compares with what is published for
exactly those (`expected`). Stage figures are exact counts published by the k rules
(`expected_on_stage`). The noise has tests of its own (test_differencing.py)."""

from datetime import UTC, date, datetime, timedelta

import pytest
from django.db.models import Q

from events.models import Event, Registration, Session, StageRole
from insights import balance
from members import privacy
from members.models import Affiliation, Profile
from tests.events.factories import EventFactory, SessionFactory, StageRoleFactory, register
from tests.factories import ClusterFactory, ProfileFactory, TopicFactory, crowd
from tests.insights.drawing import draw_quarter

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("exact_releases")]

K = 5
RS = Registration.Status
Role = StageRole.Role


@pytest.fixture(autouse=True)
def _k_is_five(settings):
    settings.PRIVACY_MIN_GROUP_SIZE = K


def on_stage(event, gender="", *, role=Role.SPEAKER, session=None, member=False, consent=True):
    """A member (with a gender record) or a guest (gender recorded with consent) on stage."""
    if member:
        [user] = crowd(1, gender or None, consent=consent)
        return StageRole.objects.create(
            event=event, session=session, role=role, profile=ProfileFactory(user=user)
        )
    return StageRoleFactory(
        event=event,
        session=session,
        role=role,
        guest_gender=gender,
        guest_gender_consent=bool(gender),
    )


def cells(figures: privacy.GenderCounts) -> tuple:
    """(woman, man, non-binary, self-described, undisclosed, total) as published."""
    return (*(figures.cells[c] for c in privacy.STATISTICS_CATEGORIES), figures.total)


def expected(**raw: int) -> tuple:
    """What a release drawn without noise publishes for exactly these raw counts, in the
    order of `cells`: the page must show just that."""
    return cells(privacy.publish_released(raw, sum(raw.values()), k=K))


def expected_on_stage(**raw: int) -> tuple:
    """Stage figures are not released: exact counts published by the k rules."""
    return cells(privacy.publish(raw, k=K))


def at(year: int, month: int, day: int = 15) -> datetime:
    return datetime(year, month, day, 12, tzinfo=UTC)


# --- one event: the funnel ------------------------------------------------------------


@pytest.fixture
def conference(cluster):
    event = EventFactory(clusters=[cluster], kind=Event.Kind.CONFERENCE)
    register(event, crowd(5, "woman"), RS.ATTENDED)
    register(event, crowd(5, "woman"), RS.NO_SHOW)
    register(event, crowd(5, "woman"), RS.WAITLISTED)
    register(event, crowd(6, "man"), RS.ATTENDED)
    register(event, crowd(8, "man"), RS.CONFIRMED)
    register(event, crowd(2, "non_binary"), RS.CONFIRMED)
    return event


def test_the_funnel_of_an_event_counts_each_stage_by_gender(conference):
    result = balance.balance_for_event(event=conference)

    assert list(result.funnel) == list(balance.FUNNEL_LABELS)
    funnel = {stage: cells(counts) for stage, counts in result.funnel.items()}
    assert funnel == {
        "registered": expected(woman=15, man=14, non_binary=2),
        "waitlisted": expected(woman=5),
        "participants": expected(woman=5, man=14, non_binary=2),
        "attended": expected(woman=5, man=6),
        "no_show": expected(woman=5),
    }
    # Multiples of k are exact; empty categories of a non-empty group are hidden.
    assert funnel["waitlisted"] == (5, None, None, None, None, 5)
    assert result.share_of_women == pytest.approx(5 / 21)  # from the unrounded release


def test_people_without_consent_are_undisclosed_in_the_funnel(cluster):
    event = EventFactory(clusters=[cluster])
    register(event, crowd(5, "woman", consent=False), RS.ATTENDED)
    register(event, crowd(5, None), RS.ATTENDED)
    register(event, crowd(5, "man"), RS.ATTENDED)

    result = balance.balance_for_event(event=event)

    assert cells(result.funnel["attended"]) == expected(man=5, undisclosed=10)


def test_a_small_event_shows_fewer_than_k_everywhere(cluster):
    event = EventFactory(clusters=[cluster])
    register(event, crowd(3, "woman"), RS.ATTENDED)

    result = balance.balance_for_event(event=event)

    assert cells(result.funnel["registered"]) == (None,) * 6
    assert cells(result.funnel["attended"]) == (None,) * 6
    assert cells(result.funnel["no_show"]) == (0,) * 6  # nobody: nothing to hide
    assert result.share_of_women is None
    assert [position.position for _, position in result.targets] == ["unknown"]


def test_each_session_has_its_own_funnel_apart_from_the_event(cluster):
    event = EventFactory(clusters=[cluster])
    workshop = SessionFactory(event=event, title="Workshop")
    talk = SessionFactory(event=event, title="Talk")
    SessionFactory(event=event, title="Nobody came")
    register(event, crowd(5, "woman"), RS.ATTENDED, session=workshop)
    register(event, crowd(7, "man"), RS.CONFIRMED, session=workshop)
    register(event, crowd(3, "man"), RS.CONFIRMED, session=talk)
    register(event, crowd(5, "man"), RS.CONFIRMED)

    result = balance.balance_for_event(event=event)

    assert cells(result.funnel["registered"]) == expected(man=5)  # the event alone
    sessions = {session.title: funnel for session, funnel in result.sessions}
    assert set(sessions) == {"Workshop", "Talk"}
    assert cells(sessions["Workshop"]["registered"]) == expected(woman=5, man=7)
    assert cells(sessions["Workshop"]["attended"]) == expected(woman=5)
    assert cells(sessions["Workshop"]["participants"]) == expected(woman=5, man=7)
    assert cells(sessions["Talk"]["registered"]) == (None,) * 6
    assert all(isinstance(session, Session) for session, _ in result.sessions)


def test_the_balance_of_an_event_takes_a_fixed_number_of_queries(
    cluster, django_assert_max_num_queries
):
    event = EventFactory(clusters=[cluster])
    for _ in range(6):
        session = SessionFactory(event=event)
        register(event, crowd(5, "woman"), session=session)
        on_stage(event, "man", role=Role.PANELLIST, session=session)
    register(event, crowd(20, "man"))
    balance.balance_for_event(event=event)  # the first look draws the release

    with django_assert_max_num_queries(8):
        balance.balance_for_event(event=event)


# --- one event: the stage and its flags -----------------------------------------------


def test_the_stage_counts_member_speakers_and_consenting_guests(cluster):
    event = EventFactory(clusters=[cluster])
    for _ in range(3):
        on_stage(event, "woman", member=True)
    for _ in range(2):
        on_stage(event, "woman")  # guests who agreed their gender be recorded
    on_stage(event, "woman", member=True, consent=False)  # counts as undisclosed
    panel = SessionFactory(event=event, kind=Session.Kind.PANEL)
    for _ in range(3):
        on_stage(event, "man", role=Role.PANELLIST, session=panel, member=True)
    for _ in range(2):
        on_stage(event, "man", role=Role.PANELLIST, session=panel)
    on_stage(event, "woman", role=Role.MODERATOR, session=panel)

    stage = balance.balance_for_event(event=event).stage

    assert list(stage) == ["on_stage", "speaker", "panellist", "moderator"]
    assert cells(stage["on_stage"]) == expected_on_stage(woman=6, man=5, undisclosed=1)
    assert cells(stage["speaker"]) == expected_on_stage(woman=5, undisclosed=1)
    assert cells(stage["panellist"]) == expected_on_stage(man=5)
    assert cells(stage["moderator"]) == (None,) * 6  # one person


def test_a_panel_of_three_consenting_men_is_an_all_male_panel(cluster):
    event = EventFactory(clusters=[cluster])
    panel = SessionFactory(event=event, kind=Session.Kind.PANEL)
    on_stage(event, "man", role=Role.PANELLIST, session=panel, member=True)
    on_stage(event, "man", role=Role.PANELLIST, session=panel, member=True)
    on_stage(event, "man", role=Role.PANELLIST, session=panel)

    flags = balance.balance_for_event(event=event).flags

    assert flags.all_male_panels == 1
    assert flags.women_only_as_moderators is False


@pytest.mark.parametrize(
    "unknown",
    [
        {"gender": ""},  # a guest whose gender was not recorded
        {"gender": "man", "member": True, "consent": False},  # a man who did not consent
        {"gender": "undisclosed", "member": True},
        {"gender": None, "member": True},  # never filled in the form
    ],
)
def test_a_panel_with_one_undisclosed_person_is_not_called_all_male(cluster, unknown):
    event = EventFactory(clusters=[cluster])
    panel = SessionFactory(event=event, kind=Session.Kind.PANEL)
    on_stage(event, "man", role=Role.PANELLIST, session=panel, member=True)
    on_stage(event, "man", role=Role.MODERATOR, session=panel)
    on_stage(event, role=Role.PANELLIST, session=panel, **unknown)

    assert balance.balance_for_event(event=event).flags.all_male_panels == 0


def test_each_all_male_panel_is_counted_and_lone_people_are_no_panel(cluster):
    event = EventFactory(clusters=[cluster])
    for _ in range(2):
        panel = SessionFactory(event=event, kind=Session.Kind.PANEL)
        on_stage(event, "man", role=Role.PANELLIST, session=panel)
        on_stage(event, "man", role=Role.MODERATOR, session=panel, member=True)
    mixed = SessionFactory(event=event, kind=Session.Kind.PANEL)
    on_stage(event, "man", role=Role.PANELLIST, session=mixed)
    on_stage(event, "woman", role=Role.PANELLIST, session=mixed)
    alone = SessionFactory(event=event, kind=Session.Kind.PANEL)
    on_stage(event, "man", role=Role.PANELLIST, session=alone)
    talk = SessionFactory(event=event)
    on_stage(event, "man", session=talk)
    on_stage(event, "man", session=talk)  # two speakers of a talk are not a panel
    on_stage(event, "man", role=Role.PANELLIST)  # panellists without a session
    on_stage(event, "man", role=Role.PANELLIST)

    assert balance.balance_for_event(event=event).flags.all_male_panels == 2


def test_women_only_as_moderators_is_flagged(cluster):
    event = EventFactory(clusters=[cluster])
    panel = SessionFactory(event=event, kind=Session.Kind.PANEL)
    on_stage(event, "woman", role=Role.MODERATOR, session=panel, member=True)
    on_stage(event, "man", role=Role.PANELLIST, session=panel)
    on_stage(event, "man", role=Role.PANELLIST, session=panel)
    on_stage(event, "man")

    flags = balance.balance_for_event(event=event).flags
    assert flags.women_only_as_moderators is True
    assert flags.all_male_panels == 0

    on_stage(event, "woman", member=True)  # a woman who speaks
    assert balance.balance_for_event(event=event).flags.women_only_as_moderators is False


def test_no_women_on_stage_is_not_women_only_as_moderators(cluster):
    event = EventFactory(clusters=[cluster])
    on_stage(event, "man")
    on_stage(event, "woman", role=Role.MODERATOR, member=True, consent=False)

    assert balance.balance_for_event(event=event).flags.women_only_as_moderators is False


# --- targets --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("share", "position", "label"),
    [
        (None, "unknown", "Too few to say"),
        (0.0, "below", "Below target"),
        (0.39, "below", "Below target"),
        (0.40, "balanced", "Balanced"),
        (0.5, "balanced", "Balanced"),
        (0.60, "balanced", "Balanced"),
        (0.61, "above", "Above the balanced zone"),
        (1.0, "above", "Above the balanced zone"),
    ],
)
def test_target_position_against_the_default_target(cluster, share, position, label):
    result = balance.target_position(share=share, cluster=cluster)

    assert (result.share, result.position, result.label) == (share, position, label)


@pytest.mark.parametrize(
    ("share", "position"), [(0.3, "below"), (0.45, "below"), (0.5, "balanced"), (0.75, "above")]
)
def test_target_position_follows_the_clusters_own_settings(share, position):
    cluster = ClusterFactory(
        women_target_percent=50, balanced_from_percent=40, balanced_to_percent=70
    )

    assert balance.target_position(share=share, cluster=cluster).position == position


def test_an_event_stands_against_each_of_its_clusters_targets(cluster, other_cluster):
    other_cluster.women_target_percent = 60
    other_cluster.balanced_from_percent = 60
    other_cluster.balanced_to_percent = 80
    other_cluster.save()
    event = EventFactory(clusters=[cluster, other_cluster])
    register(event, crowd(5, "woman"))
    register(event, crowd(5, "man"))

    targets = dict(balance.balance_for_event(event=event).targets)

    assert targets[cluster].position == "balanced"
    assert targets[cluster].share == pytest.approx(0.5)
    assert targets[other_cluster].position == "below"


# --- across events ----------------------------------------------------------------------


def test_the_trend_groups_by_month_quarter_and_year(cluster):
    for month in (1, 2, 3, 4):
        event = EventFactory(clusters=[cluster], starts_at=at(2025, month))
        register(event, crowd(5, "woman"), RS.ATTENDED)
    event = EventFactory(clusters=[cluster], starts_at=at(2025, 4, 20))
    register(event, crowd(5, "man"), RS.ATTENDED)

    def trend(period):
        rows = balance.balance_trend(filters=balance.BalanceFilter(cluster=cluster, period=period))
        return [
            ((row.group["when"].year, row.group["when"].month), cells(row.measures["attended"]))
            for row in rows
        ]

    assert trend("month") == [
        ((2025, 1), expected(woman=5)),
        ((2025, 2), expected(woman=5)),
        ((2025, 3), expected(woman=5)),
        ((2025, 4), expected(woman=5, man=5)),
    ]
    assert trend("quarter") == [
        ((2025, 1), expected(woman=15)),
        ((2025, 4), expected(woman=5, man=5)),
    ]
    assert trend("year") == [((2025, 1), expected(woman=20, man=5))]


def test_the_trend_counts_only_whole_event_registrations(cluster):
    event = EventFactory(clusters=[cluster], starts_at=at(2025, 1))
    register(event, crowd(5, "woman"))
    register(event, crowd(5, "man"), session=SessionFactory(event=event))

    [row] = balance.balance_trend(filters=balance.BalanceFilter(cluster=cluster, period="year"))

    assert cells(row.measures["registered"]) == expected(woman=5)


def test_balance_by_kind(cluster):
    webinar = EventFactory(clusters=[cluster], kind=Event.Kind.WEBINAR)
    register(webinar, crowd(5, "woman"))
    conference = EventFactory(clusters=[cluster], kind=Event.Kind.CONFERENCE)
    register(conference, crowd(9, "man"))
    register(conference, crowd(1, "woman"))

    rows = balance.balance_by_kind(filters=balance.BalanceFilter(cluster=cluster))

    assert [(row.group, cells(row.measures["participants"])) for row in rows] == [
        ({"event__kind": "conference"}, expected(woman=1, man=9)),
        ({"event__kind": "webinar"}, expected(woman=5)),
    ]


def test_balance_by_topic_counts_an_event_under_each_of_its_topics(cluster):
    energy = TopicFactory(name="Test energy")
    robots = TopicFactory(name="Test robots")
    first = EventFactory(clusters=[cluster], topics=[energy, robots])
    register(first, crowd(5, "woman"))
    second = EventFactory(clusters=[cluster], topics=[robots])
    register(second, crowd(5, "man"))
    untagged = EventFactory(clusters=[cluster])
    register(untagged, crowd(5, "non_binary"))

    rows = balance.balance_by_topic(filters=balance.BalanceFilter(cluster=cluster))

    assert [(row.group, cells(row.measures["registered"])) for row in rows] == [
        ({"event__topics__name": "Test energy"}, expected(woman=5)),
        ({"event__topics__name": "Test robots"}, expected(woman=5, man=5)),
    ]


def test_stage_in_period_adds_up_the_stage_of_the_events(cluster):
    for _ in range(2):
        event = EventFactory(clusters=[cluster], starts_at=at(2025, 3))
        for _ in range(5):
            on_stage(event, "woman")
    late = EventFactory(clusters=[cluster], starts_at=at(2025, 9))
    for _ in range(5):
        on_stage(late, "man", member=True)

    first_half = balance.BalanceFilter(
        cluster=cluster, start=date(2025, 1, 1), end=date(2025, 7, 1)
    )
    stage = balance.stage_in_period(filters=first_half)

    assert cells(stage["speaker"]) == expected_on_stage(woman=10)  # five women at each event
    whole = balance.stage_in_period(filters=balance.BalanceFilter(cluster=cluster))
    assert cells(whole["on_stage"]) == expected_on_stage(woman=10, man=5)


def test_the_pipeline_counts_people_from_members_to_the_stage_and_beyond(cluster, organisation):
    women, men = crowd(10, "woman"), crowd(5, "man")
    Profile.objects.bulk_create(
        [Profile(user=u, display_name=u.email, organisation=organisation) for u in women + men]
    )
    first, second = EventFactory(clusters=[cluster]), EventFactory(clusters=[cluster])
    confirmed_before = first.starts_at - timedelta(days=365)
    Affiliation.objects.bulk_create(
        Affiliation(
            user=u, organisation=organisation, status="confirmed", decided_at=confirmed_before
        )
        for u in women + men
    )
    crowd(7, "woman")  # people in no organisation of the cluster are not members
    late = crowd(4, "man")  # confirmed only after the quarter: not members of it
    Profile.objects.bulk_create(
        [Profile(user=u, display_name=u.email, organisation=organisation) for u in late]
    )
    Affiliation.objects.bulk_create(
        Affiliation(
            user=u,
            organisation=organisation,
            status="confirmed",
            decided_at=first.starts_at + timedelta(days=200),
        )
        for u in late
    )
    register(first, women, RS.ATTENDED)
    register(second, women[:5] + men)  # the first five women come twice: five people
    elsewhere = EventFactory(clusters=[ClusterFactory()])
    register(elsewhere, crowd(9, "man"), RS.ATTENDED)
    for _ in range(5):
        on_stage(first, "man", member=True)
    on_stage(first, "woman")  # a guest: not a person of the pipeline
    filters = balance.BalanceFilter(cluster=cluster)
    assert balance.balance_pipeline(filters=filters).stages == []  # a page draws none
    draw_quarter(cluster, first.starts_at.date())
    stages = balance.balance_pipeline(filters=filters).stages

    assert [(key, label) for key, label, _ in stages] == [
        ("members", "Members"),
        ("registered", "Registered"),
        ("attended", "Attended"),
        ("speakers", "On stage"),
        ("mentees", "Mentees"),
        ("mentors", "Mentors"),
    ]
    figures = {key: cells(counts) for key, _, counts in stages}
    assert figures == {
        "members": expected(woman=10, man=5),
        "registered": expected(woman=10, man=5),
        "attended": expected(woman=10),
        "speakers": expected(man=5),
        "mentees": expected(),
        "mentors": expected(),
    }


def test_events_against_target_gives_each_event_its_position_in_two_queries(
    cluster, django_assert_num_queries
):
    balanced = EventFactory(clusters=[cluster], title="Balanced")
    register(balanced, crowd(5, "woman"))
    register(balanced, crowd(5, "man"))
    panel = SessionFactory(event=balanced, kind=Session.Kind.PANEL)
    on_stage(balanced, "man", role=Role.PANELLIST, session=panel)
    on_stage(balanced, "man", role=Role.MODERATOR, session=panel)
    all_men = EventFactory(clusters=[cluster], title="All men")
    register(all_men, crowd(6, "man"), RS.ATTENDED)
    register(all_men, crowd(5, "woman"), RS.NO_SHOW)  # not participants
    few_women = EventFactory(clusters=[cluster], title="Few women")
    register(few_women, crowd(5, "woman"))
    register(few_women, crowd(15, "man"))
    forty_men = EventFactory(clusters=[cluster], title="Forty men")
    register(forty_men, crowd(40, "man"))
    EventFactory(clusters=[cluster], title="Empty")
    small = EventFactory(clusters=[cluster], title="Small")
    register(small, crowd(4, "woman"))
    events = list(Event.objects.filter(clusters=cluster))
    filters = balance.BalanceFilter(cluster=cluster)
    balance.events_against_target(filters=filters, events=events)  # draws the releases

    # Due releases, which are drawn, the released rows, the panels: however many events.
    with django_assert_num_queries(4):
        rows = balance.events_against_target(
            filters=balance.BalanceFilter(cluster=cluster), events=events
        )

    by_title = {row.event.title: row for row in rows}
    assert [row.event for row in rows] == events
    assert by_title["Balanced"].target.position == "balanced"
    assert by_title["Balanced"].all_male_panels == 1
    assert cells(by_title["Balanced"].participants) == expected(woman=5, man=5)
    assert by_title["Few women"].target.position == "below"
    assert by_title["Few women"].target.share == pytest.approx(5 / 20)
    assert cells(by_title["Few women"].participants) == expected(woman=5, man=15)
    # No woman reads "fewer than k" women; the share comes from the release's estimate.
    assert cells(by_title["All men"].participants) == expected(man=6)
    assert by_title["All men"].participants.cells["woman"] is None
    assert by_title["All men"].target.position == "below"
    assert by_title["All men"].target.share == 0
    assert by_title["All men"].all_male_panels == 0
    assert by_title["Forty men"].participants.cells["woman"] is None
    assert by_title["Forty men"].target.position == "below"
    assert by_title["Empty"].target.position == "unknown"
    assert cells(by_title["Empty"].participants) == (0,) * 6
    assert by_title["Small"].target.position == "unknown"
    assert cells(by_title["Small"].participants) == (None,) * 6


def test_the_filter_narrows_by_period_kind_topic_and_cluster(cluster, other_cluster):
    energy = TopicFactory(name="Test energy")
    january = EventFactory(clusters=[cluster], starts_at=at(2025, 1), topics=[energy])
    march = EventFactory(clusters=[cluster], starts_at=at(2025, 3), kind=Event.Kind.CONFERENCE)
    june = EventFactory(clusters=[cluster], starts_at=at(2025, 6), topics=[energy])
    EventFactory(clusters=[cluster], starts_at=at(2025, 2), status=Event.Status.DRAFT)
    EventFactory(clusters=[other_cluster], starts_at=at(2025, 2))
    for event in (january, march, june):
        register(event, crowd(5, "woman"))

    def events(**kwargs):
        return set(balance.events_in(balance.BalanceFilter(cluster=cluster, **kwargs)))

    assert events() == {january, march, june}
    assert events(start=date(2025, 2, 1)) == {march, june}
    assert events(end=date(2025, 3, 16)) == {january, march}  # the end is exclusive
    assert events(start=date(2025, 3, 16), end=date(2025, 6, 16)) == {june}
    assert events(start=date(2025, 1, 15), end=date(2025, 1, 16)) == {january}
    assert events(kind=Event.Kind.CONFERENCE) == {march}
    assert events(topic=energy) == {january, june}
    assert events(topic=energy, end=date(2025, 2, 1)) == {january}

    narrowed = balance.BalanceFilter(cluster=cluster, start=date(2025, 2, 1), topic=energy)
    [row] = balance.balance_trend(filters=narrowed)
    assert cells(row.measures["registered"]) == expected(woman=5)
    assert narrowed.as_log() == {
        "start": "2025-02-01",
        "end": None,
        "kind": "",
        "topic": energy.slug,
        "period": "quarter",
    }


def test_registrations_of_other_clusters_events_never_count(cluster, other_cluster):
    mine = EventFactory(clusters=[cluster])
    register(mine, crowd(5, "woman"))
    theirs = EventFactory(clusters=[other_cluster])
    register(theirs, crowd(10, "man"))
    shared = EventFactory(clusters=[cluster, other_cluster])
    register(shared, crowd(5, "non_binary"))

    [row] = balance.balance_by_kind(filters=balance.BalanceFilter(cluster=cluster))

    assert cells(row.measures["registered"]) == expected(woman=5, non_binary=5)


def test_the_stage_measures_are_the_roles():
    assert set(balance.STAGE) == {"on_stage", *Role.values}
    assert balance.STAGE["on_stage"] == Q()
    assert set(balance.FUNNEL) == set(balance.FUNNEL_LABELS)
