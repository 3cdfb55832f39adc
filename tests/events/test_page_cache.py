"""The cached event list and event page: every change shows on the next request, and no
viewer is ever served what another viewer may see."""

from datetime import timedelta

import pytest
from django.db.models.signals import post_save
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from events import authoring, services
from events.models import Event, Registration
from tests.events.factories import EventFactory, SessionFactory, StageRoleFactory

pytestmark = pytest.mark.django_db

LIST = reverse("events:list")


def html(client: Client, url: str) -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_a_registration_changes_the_seats_left_on_the_next_request(client_for, cluster, member,
                                                                   colleague):  # fmt: skip
    event = EventFactory(title="Cobots", clusters=[cluster], capacity=2)
    viewer = client_for(colleague.user)
    url = event.get_absolute_url()
    assert "2 seats left" in html(viewer, url)
    assert "Full — waitlist open" not in html(viewer, LIST)

    services.event_register(event=event, user=member.user)
    assert "1 seat left" in html(viewer, url)

    services.event_register(event=event, user=colleague.user)
    page = html(viewer, url)
    assert "Full — new registrations join the waitlist" in page
    assert "Your registration:" in page
    assert "You:" in html(viewer, LIST)  # the viewer's own status on their list


def test_a_session_registration_changes_the_session_seats(client_for, cluster, member, colleague):
    event = EventFactory(title="Days", clusters=[cluster])
    session = SessionFactory(event=event, title="Workshop", capacity=3)
    viewer = client_for(colleague.user)
    assert "3 seats left" in html(viewer, event.get_absolute_url())
    services.event_register(event=event, user=member.user)
    services.event_register(event=event, user=member.user, session=session)
    assert "2 seats left" in html(viewer, event.get_absolute_url())


def test_an_organisers_edit_shows_at_once_on_the_list_and_the_page(client_for, cluster, organiser,
                                                                   member):  # fmt: skip
    event = EventFactory(title="Cobots webinar", clusters=[cluster])
    viewer = client_for(member.user)
    assert "Cobots webinar" in html(viewer, LIST)
    assert "Cobots webinar" in html(viewer, event.get_absolute_url())

    authoring.event_update(event=event, by=organiser, changes={"title": "Cobots in practice"})
    listed = html(viewer, LIST)
    assert "Cobots in practice" in listed and "Cobots webinar" not in listed
    assert "Cobots in practice" in html(viewer, event.get_absolute_url())


def test_a_members_only_event_never_reaches_an_outsider_or_a_visitor_from_the_cache(
    client_for, cluster, member, outsider
):
    EventFactory(title="Open day", clusters=[cluster], audience=Event.Audience.PUBLIC)
    secret = EventFactory(title="Members' dinner", clusters=[cluster])
    assert "Members&#x27; dinner" in html(client_for(member.user), LIST)
    assert "Members&#x27; dinner" in html(client_for(member.user), secret.get_absolute_url())

    for viewer in (client_for(outsider.user), client_for()):
        listed = html(viewer, LIST)
        assert "Open day" in listed and "dinner" not in listed
        assert viewer.get(secret.get_absolute_url()).status_code == 404


def test_a_viewer_who_leaves_the_cluster_no_longer_sees_its_events(client_for, cluster, member):
    secret = EventFactory(title="Members' dinner", clusters=[cluster])
    viewer = client_for(member.user)
    assert "dinner" in html(viewer, LIST)
    member.organisation = None
    member.save(update_fields=["organisation"])
    assert "dinner" not in html(viewer, LIST)
    assert viewer.get(secret.get_absolute_url()).status_code == 404


def test_the_cached_page_holds_nothing_of_another_viewer(client_for, cluster, member, colleague):
    event = EventFactory(title="Cobots", clusters=[cluster], capacity=10)
    services.event_register(event=event, user=member.user)
    mine = client_for(member.user)
    assert "Your registration:" in html(mine, event.get_absolute_url())
    assert "You:" in html(mine, LIST)

    theirs = client_for(colleague.user)
    page = html(theirs, event.get_absolute_url())
    assert "Your registration:" not in page and "Anna Keller" not in page
    assert "You:" not in html(theirs, LIST)
    # Their form carries their own CSRF token, so registering from the page works.
    checked = Client(enforce_csrf_checks=True)
    checked.force_login(colleague.user)
    checked.get(event.get_absolute_url())
    page = html(checked, event.get_absolute_url())
    token = page.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]
    response = checked.post(
        reverse("events:register", args=[event.slug]), {"csrfmiddlewaretoken": token}
    )
    assert response.status_code == 302
    assert event.registrations.filter(user=colleague.user).exists()


def csrf_token_in(page: str, *, form: str) -> str:
    """The token in the form posting to `form` (the page's header has a form of its own)."""
    after = page.split(f'action="{form}">')[1]
    return after.split('name="csrfmiddlewaretoken" value="')[1].split('"')[0]


def test_every_response_carries_its_own_working_csrf_token(cluster, member):
    event = EventFactory(title="Cobots", clusters=[cluster], capacity=10)
    first_session, second_session = (Client(enforce_csrf_checks=True) for _ in range(2))
    for client in (first_session, second_session):
        client.force_login(member.user)
    url = event.get_absolute_url()
    register = reverse("events:register", args=[event.slug])
    one = csrf_token_in(html(first_session, url), form=register)
    two = csrf_token_in(html(first_session, url), form=register)
    assert one != two  # masked anew for each response, as on an uncached page
    # The same person's other session is served the same cached page, with a token of its
    # own secret: registering from one and cancelling from the other both work.
    assert first_session.post(register, {"csrfmiddlewaretoken": one}).status_code == 302
    assert event.registrations.filter(user=member.user, status="confirmed").exists()
    cancel = reverse("events:cancel", args=[event.slug])
    from_second = csrf_token_in(html(second_session, url), form=cancel)
    assert second_session.post(cancel, {"csrfmiddlewaretoken": from_second}).status_code == 302
    assert not event.registrations.filter(user=member.user, status="confirmed").exists()
    # A token of the first session is no good in the second.
    assert second_session.post(register, {"csrfmiddlewaretoken": two}).status_code == 403


def test_a_cluster_rename_shows_on_the_list(client_for, cluster, member):
    EventFactory(title="Cobots", clusters=[cluster])
    viewer = client_for(member.user)
    assert cluster.name in html(viewer, LIST)
    cluster.name = "Mechatronics Renamed"
    cluster.save(update_fields=["name"])
    assert "Mechatronics Renamed" in html(viewer, LIST)


def test_an_erased_speaker_leaves_the_cached_page_and_api_at_once(client_for, cluster, member,
                                                                  colleague):  # fmt: skip
    from members.services import account_erase

    colleague.display_name = "Ottilie Quast"
    colleague.save(update_fields=["display_name"])
    # The event's own texts do not name her: only her stage role shows her.
    event = EventFactory(title="Cobots", clusters=[cluster])
    StageRoleFactory(event=event, profile=colleague, guest_name="")
    viewer = client_for(member.user)
    api = reverse("events_api:event_detail", args=[event.pk])
    assert "Ottilie Quast" in html(viewer, event.get_absolute_url())
    assert "Ottilie Quast" in viewer.get(api).content.decode()

    account_erase(user=colleague.user)

    assert "Ottilie Quast" not in html(viewer, event.get_absolute_url())
    assert "Ottilie Quast" not in viewer.get(api).content.decode()


def test_closing_attendance_shows_the_no_shows_at_once(client_for, cluster, member):
    event = EventFactory(title="Cobots", clusters=[cluster])
    services.event_register(event=event, user=member.user)
    viewer = client_for(member.user)
    assert "Confirmed" in html(viewer, event.get_absolute_url())
    Event.objects.filter(pk=event.pk).update(
        starts_at=timezone.now() - timedelta(hours=3), ends_at=timezone.now() - timedelta(hours=1)
    )
    event.refresh_from_db()
    html(viewer, event.get_absolute_url())  # the ended page, cached

    services.attendance_close(event=event)

    assert "No-show" in html(viewer, event.get_absolute_url())


# --- only with a cache every process shares ------------------------------------------------

SHARED = {"BACKEND": "django.core.cache.backends.filebased.FileBasedCache"}
PER_PROCESS = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


@pytest.mark.parametrize(
    ("backend", "forced", "expected"),
    [
        (PER_PROCESS, None, False),  # another web process or a worker would not see a change
        ({"BACKEND": "django.core.cache.backends.dummy.DummyCache"}, None, False),
        (SHARED, None, True),
        (PER_PROCESS, True, True),  # the setting wins: one process, as in this suite
        (SHARED, False, False),
    ],
)
def test_pages_are_cached_only_with_a_shared_cache_unless_the_setting_says(
    settings, tmp_path, backend, forced, expected
):
    from events import fragments

    settings.CACHES = {"default": {**backend, "LOCATION": str(tmp_path)}}
    settings.PAGE_CACHE = forced
    assert fragments.enabled() is expected


def test_without_a_shared_cache_every_request_renders_the_page_afresh(settings, client_for,
                                                                      cluster, member):  # fmt: skip
    from events import fragments

    settings.CACHES = {"default": {**PER_PROCESS, "LOCATION": "per-process-test"}}
    settings.PAGE_CACHE = None
    event = EventFactory(title="Cobots", clusters=[cluster], capacity=2)
    versions = fragments.versions(event_ids=[event.pk])
    assert fragments.versions(event_ids=[event.pk]) != versions  # never the same key twice

    # A registration written where this process's signals never ran (another process):
    # the page still shows it, since nothing of the page was kept.
    viewer = client_for(member.user)
    assert "2 seats left" in html(viewer, event.get_absolute_url())
    post_save.disconnect(sender=Registration, dispatch_uid=f"fragments-{Registration}-{post_save}")
    try:
        services.event_register(event=event, user=member.user)
    finally:
        fragments.connect()
    assert "1 seat left" in html(viewer, event.get_absolute_url())
    response = viewer.get(reverse("events_api:event_detail", args=[event.pk]))
    assert response.status_code == 200
    assert (
        viewer.get(
            reverse("events_api:event_detail", args=[event.pk]), HTTP_IF_NONE_MATCH=response["ETag"]
        ).status_code
        == 200
    )  # no 304 from a tag another process could not have checked


def test_a_change_reaches_the_shared_cache_only_when_its_transaction_commits(
    client_for, cluster, member, colleague, django_capture_on_commit_callbacks
):
    from django.core.cache import cache
    from django.db import transaction

    event = EventFactory(title="Cobots", clusters=[cluster], capacity=2)
    viewer = client_for(colleague.user)
    url = event.get_absolute_url()
    key = f"events:v:{event.pk}"
    assert "2 seats left" in html(viewer, url)
    shared = cache.get(key)
    assert shared is not None

    with pytest.raises(RuntimeError), transaction.atomic():
        services.event_register(event=event, user=member.user)
        assert "1 seat left" in html(viewer, url)  # its own change, inside the transaction
        assert cache.get(key) == shared  # nothing written while the seat was locked
        raise RuntimeError("the action fails: everything is rolled back")
    assert cache.get(key) == shared
    assert "2 seats left" in html(viewer, url)  # nothing of the rolled-back registration

    with django_capture_on_commit_callbacks(execute=True):
        services.event_register(event=event, user=member.user)
        assert cache.get(key) == shared
    assert cache.get(key) not in (None, shared)  # the commit gives every process a new one
    assert "1 seat left" in html(viewer, url)
