"""The brokerage funnel by gender: only through `members.privacy`, under the guarantee of
the event balance pages — released once with the event, groups under k hidden, no person
named, the same people may look and every look is logged."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from insights import brokerage
from insights.models import ReleasedCell
from members import privacy
from members.models import GenderIdentity, StatisticsAccess
from tests.factories import ClusterOrganiserFactory, GenderIdentityFactory, ProfileFactory
from tests.matchmaking.brokerage.factories import (
    BrokerageEventFactory,
    ParticipantFactory,
    accepted,
)

pytestmark = pytest.mark.django_db
G = GenderIdentity.Gender


def participant(event, gender: str, *, name: str | None = None, consent: bool = True):
    p = ParticipantFactory(event=event)
    if name:
        p.user.profile.display_name = name
        p.user.profile.save(update_fields=["display_name"])
    GenderIdentityFactory(user=p.user, gender=gender, statistics_consent=consent)
    return p


def ended_day(cluster, **kwargs):
    starts = timezone.now() - timedelta(days=20)
    return BrokerageEventFactory(
        clusters=[cluster], starts_at=starts, ends_at=starts + timedelta(hours=3), **kwargs
    )


@pytest.fixture
def day(cluster):
    """10 women and 10 men; every woman and every man meets one of the other group (10
    scheduled meetings), 6 of them held; plus 2 self-described people who asked nobody."""
    event = ended_day(cluster, title="Matchmaking Day", slug="matchmaking-day")
    women = [participant(event, G.WOMAN, name=f"Wilma Womanhood {i}") for i in range(10)]
    men = [participant(event, G.MAN) for _ in range(10)]
    participant(event, G.SELF_DESCRIBED)
    participant(event, G.SELF_DESCRIBED)
    slots = list(event.meeting_slots.order_by("starts_at"))
    tables = list(event.meeting_tables.order_by("position"))
    for i, (w, m) in enumerate(zip(women, men, strict=True)):
        accepted(w, m, slot=slots[i % len(slots)], table=tables[i // len(slots)],
                 checked_in_at=timezone.now() if i < 6 else None)  # fmt: skip
    return event


def figures(event) -> dict[str, privacy.GenderCounts]:
    return {stage.key: stage.counts for stage in brokerage.brokerage_balance(event=event).stages}


@pytest.mark.usefixtures("exact_releases")
def test_the_funnel_by_gender_counts_people_per_stage_and_hides_small_groups(day):
    shown = figures(day)
    assert shown["participants"].total == 22
    assert shown["participants"].cells[G.WOMAN] == 10
    assert shown["participants"].cells[G.MAN] == 10
    # Two self-described people: fewer than k, hidden.
    assert shown["participants"].cells[G.SELF_DESCRIBED] is None
    assert shown["scheduled"].cells[G.WOMAN] == 10
    assert shown["held"].cells[G.WOMAN] == 6 and shown["held"].total == 12
    # Nobody intends a follow-up: an empty group shows nothing at all.
    assert shown["follow_up"].total == 0


@pytest.mark.usefixtures("exact_releases")
def test_a_day_with_fewer_than_k_people_shows_no_breakdown(cluster):
    event = ended_day(cluster)
    a, b = participant(event, G.WOMAN), participant(event, G.MAN)
    participant(event, G.WOMAN)
    accepted(a, b, slot=event.meeting_slots.first(), table=event.meeting_tables.first())
    shown = figures(event)
    for counts in shown.values():
        assert counts.total in (None, 0)
        assert all(value is None or value == 0 for value in counts.cells.values())


@pytest.mark.usefixtures("exact_releases")
def test_people_without_consent_count_as_undisclosed(cluster):
    event = ended_day(cluster)
    for _ in range(6):
        participant(event, G.WOMAN, consent=False)
    shown = figures(event)["participants"]
    assert shown.cells[G.WOMAN] is None
    assert shown.cells[G.UNDISCLOSED] == 6


@pytest.mark.usefixtures("exact_releases")
def test_the_figures_are_drawn_once_and_later_feedback_changes_nothing(day):
    before = figures(day)
    count = ReleasedCell.objects.filter(measure__startswith="brokerage_").count()
    assert count == len(brokerage.GROUPS)
    day.brokerage_meetings.update(checked_in_at=timezone.now())
    after = figures(day)
    assert after["held"].total == before["held"].total == 12
    assert ReleasedCell.objects.filter(measure__startswith="brokerage_").count() == count


def test_nothing_is_shown_or_drawn_before_the_release_is_due(cluster, client_for, organiser):
    event = ended_day(cluster)
    event.ends_at = timezone.now() - timedelta(hours=1)
    event.save(update_fields=["ends_at"])
    for _ in range(6):
        participant(event, G.WOMAN)
    result = brokerage.brokerage_balance(event=event)
    assert not result.released
    assert not ReleasedCell.objects.exists()
    page = client_for(organiser).get(reverse("insights:brokerage", args=[event.slug]))
    assert "released once" in page.content.decode()


@pytest.mark.usefixtures("exact_releases")
def test_access_as_the_balance_pages_and_every_look_is_logged(
    day, client_for, organiser, other_cluster, staff
):
    url = reverse("insights:brokerage", args=[day.slug])
    stranger = ProfileFactory().user
    ClusterOrganiserFactory(cluster=other_cluster, user=stranger)
    seated = day.brokerage_participants.first().user
    assert client_for(None).get(url).status_code == 302
    assert client_for(stranger).get(url).status_code == 404
    assert client_for(seated).get(url).status_code == 404
    assert client_for(organiser).get(url).status_code == 200
    assert client_for(staff).get(url).status_code == 200
    assert set(StatisticsAccess.objects.values_list("user", "view")) == {
        (organiser.pk, "balance_brokerage"),
        (staff.pk, "balance_brokerage"),
    }


@pytest.mark.usefixtures("exact_releases")
def test_the_page_names_nobody_and_shows_no_ones_gender(day, client_for, organiser):
    page = client_for(organiser).get(reverse("insights:brokerage", args=[day.slug]))
    html = page.content.decode()
    assert page.status_code == 200
    assert "Wilma Womanhood" not in html
    for p in day.brokerage_participants.select_related("user"):
        assert p.user.email not in html
    assert "&lt; 5" in html  # the self-described group is hidden


def test_a_webinar_has_no_brokerage_balance(cluster, client_for, organiser):
    from tests.events.factories import EventFactory

    webinar = EventFactory(clusters=[cluster])
    url = reverse("insights:brokerage", args=[webinar.slug])
    assert client_for(organiser).get(url).status_code == 404
