"""The events API's list keeps which events it lists, and how many, in the cache (issue 18),
under a version that every write to events, their clusters, topics and invitations changes
(events.list_version), and under what opens events to the requester: whoever writes — the
API, the admin, `QuerySet.update()`, raw SQL — the next answer shows it, and one person's
list is never another's."""

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from events import list_version
from events.models import Event, EventListChange, Invitation, Registration
from tests.events.test_api import LIST, api, make_event
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _cached(settings):
    settings.PAGE_CACHE = True


def listed(user, query: str = "") -> tuple[list[str], int]:
    response = api(user).get(LIST + query)
    assert response.status_code == 200, response.content
    body = response.json()
    return [row["title"] for row in body["results"]], body["count"]


def test_a_repeated_list_is_not_counted_again(cluster, member):
    make_event(cluster, title="Cobots")
    listed(member.user)
    with CaptureQueriesContext(connection) as queries:
        assert listed(member.user) == (["Cobots"], 1)
    assert not [q["sql"] for q in queries if "OVER" in q["sql"]]


def test_an_event_withdrawn_by_a_bulk_update_leaves_the_list_at_once(cluster, member):
    make_event(cluster, title="Cobots")
    hidden = make_event(cluster, title="Welding")
    assert listed(member.user) == (["Cobots", "Welding"], 2)
    Event.objects.filter(pk=hidden.pk).update(status=Event.Status.DRAFT)
    assert listed(member.user) == (["Cobots"], 1)


def test_an_event_made_members_only_in_raw_sql_leaves_an_outsiders_list(cluster, member, outsider):
    event = make_event(cluster, title="Cobots")
    assert listed(outsider.user) == (["Cobots"], 1)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE events_event SET audience = %s WHERE id = %s",
            [Event.Audience.MEMBERS, event.pk],
        )
    assert listed(outsider.user) == ([], 0)
    assert listed(member.user) == (["Cobots"], 1)


def test_an_event_moved_to_another_cluster_follows_at_once(cluster, other_cluster, member):
    event = make_event(cluster, title="Cobots", audience=Event.Audience.MEMBERS)
    assert listed(member.user) == (["Cobots"], 1)
    event.clusters.through.objects.filter(event=event).update(cluster=other_cluster)
    assert listed(member.user) == ([], 0)


def test_invitations_written_in_bulk_open_the_event_at_once(cluster, member, outsider):
    event = make_event(cluster, title="Board dinner", audience=Event.Audience.INVITATION)
    assert listed(outsider.user) == ([], 0)
    Invitation.objects.bulk_create([Invitation(event=event, email=outsider.user.email.upper())])
    assert listed(outsider.user) == (["Board dinner"], 1)
    assert listed(member.user) == ([], 0)  # not invited: another key, not their list


def test_a_registration_keeps_an_invitation_only_event_until_it_is_cancelled(cluster, outsider):
    event = make_event(cluster, title="Board dinner", audience=Event.Audience.INVITATION)
    Invitation.objects.create(event=event, email=outsider.user.email)
    assert api(outsider.user).post(f"{LIST}{event.pk}/register/").status_code == 201
    Invitation.objects.filter(event=event).delete()
    assert listed(outsider.user) == (["Board dinner"], 1)  # still registered
    Registration.objects.filter(event=event).update(status=Registration.Status.CANCELLED)
    assert listed(outsider.user) == ([], 0)


def test_a_cluster_renamed_in_bulk_is_found_by_its_new_slug(cluster, member):
    make_event(cluster, title="Cobots")
    assert listed(member.user, "?cluster=mechatronics-ua") == (["Cobots"], 1)
    type(cluster).objects.filter(pk=cluster.pk).update(slug="mechatronics")
    assert listed(member.user, "?cluster=mechatronics-ua") == ([], 0)
    assert listed(member.user, "?cluster=mechatronics") == (["Cobots"], 1)


def test_each_requester_gets_their_own_list(cluster, member, outsider, staff):
    make_event(cluster, title="Cobots", audience=Event.Audience.MEMBERS)
    make_event(cluster, title="Draft", status=Event.Status.DRAFT)
    assert listed(staff) == (["Cobots", "Draft"], 2)
    assert listed(member.user) == (["Cobots"], 1)
    assert listed(outsider.user) == ([], 0)
    assert listed(None) == ([], 0)


def test_pages_and_searches_are_kept_apart(cluster, member):
    start = timezone.now() + timedelta(days=3)
    for i in range(30):
        make_event(cluster, title=f"Event {i:02}", starts_at=start + timedelta(hours=i),
                   ends_at=start + timedelta(hours=i, minutes=30))  # fmt: skip
    first, count = listed(member.user)
    second, _ = listed(member.user, "?page=2")
    assert count == 30 and first[0] == "Event 00" and second[0] == f"Event {len(first):02}"
    assert listed(member.user, "?q=Event+07") == (["Event 07"], 1)


def test_upcoming_is_not_cached(cluster, member):
    event = make_event(cluster, title="Cobots")
    assert listed(member.user, "?upcoming=true") == (["Cobots"], 1)
    with connection.cursor() as cursor:  # the clock passes the end, as far as the list knows
        list_version.drop(connection)
        ended = timezone.now() - timedelta(minutes=1)
        cursor.execute(
            "UPDATE events_event SET starts_at = %s, ends_at = %s WHERE id = %s",
            [ended - timedelta(hours=1), ended, event.pk],
        )
    assert listed(member.user, "?upcoming=true") == ([], 0)


def test_the_version_triggers_are_in_place_and_fold(cluster):
    assert list_version.installed(connection)
    for i in range(3):
        make_event(cluster, title=f"Event {i}")
    version = list_version.current()
    assert EventListChange.objects.count() > 1
    assert list_version.fold(connection) > 1
    assert (EventListChange.objects.count(), list_version.current()) == (1, version)


def test_a_profile_edit_is_no_change_of_the_list(member):
    before = list_version.current()
    ProfileFactory(display_name="Somebody new")
    assert list_version.current() == before


# --- the event list page (upcoming events): the same, and until one of its events ends ----


def page_titles(client, query: str = "") -> list[str]:
    response = client.get("/events/" + query)
    assert response.status_code == 200
    return re.findall(r'<h3[^>]*><a href="/events/[^"]+/">([^<]+)</a>', response.content.decode())


def test_the_page_drops_an_event_the_moment_it_ends(client_for, cluster, member, monkeypatch):
    soon = timezone.now() + timedelta(hours=1)
    make_event(cluster, title="Ends soon", starts_at=soon - timedelta(hours=1), ends_at=soon)
    make_event(cluster, title="Next week")
    client = client_for(member.user)
    assert page_titles(client) == ["Ends soon", "Next week"]
    assert page_titles(client) == ["Ends soon", "Next week"]  # from the cache
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(hours=1, seconds=1))
    assert page_titles(client) == ["Next week"]


def test_the_past_list_gains_an_event_the_moment_it_ends(client_for, cluster, member, monkeypatch):
    soon = timezone.now() + timedelta(hours=1)
    make_event(cluster, title="Ends soon", starts_at=soon - timedelta(hours=1), ends_at=soon)
    client = client_for(member.user)
    assert page_titles(client, "?when=past") == []
    assert page_titles(client, "?when=past") == []  # from the cache
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(hours=1, seconds=1))
    assert page_titles(client, "?when=past") == ["Ends soon"]
    assert page_titles(client) == []


def test_the_page_follows_a_bulk_update_and_counts_once(client_for, cluster, member):
    make_event(cluster, title="Cobots")
    hidden = make_event(cluster, title="Welding")
    client = client_for(member.user)
    assert page_titles(client) == ["Cobots", "Welding"]
    with CaptureQueriesContext(connection) as queries:
        assert page_titles(client) == ["Cobots", "Welding"]
    assert not [q["sql"] for q in queries if "OVER" in q["sql"]]
    Event.objects.filter(pk=hidden.pk).update(status=Event.Status.CANCELLED, audience="invitation")
    assert page_titles(client) == ["Cobots"]


def test_a_bad_filter_on_the_page_lists_nothing_and_says_so(client_for, cluster, member):
    make_event(cluster, title="Cobots")
    client = client_for(member.user)
    assert page_titles(client, "?date_from=not-a-date") == []
    assert page_titles(client, "?page=99") == ["Cobots"]  # the last page instead
