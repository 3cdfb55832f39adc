"""The organiser pages of an event, as an organiser (and everyone else) sees them."""

import csv
import io
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.mail import EmailMessage
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import resolve, reverse
from django.utils import timezone

from events import services
from events.attendance import checkin_token
from events.forms import EventForm, SessionForm
from events.models import Event, Registration, StageRole
from notifications.models import OutboxMessage
from notifications.services import email_enqueue, outbox_sweep
from tests.events.organiser_factories import EventFactory, RegistrationFactory, SessionFactory
from tests.factories import ClusterOrganiserFactory, GenderIdentityFactory, ProfileFactory

pytestmark = pytest.mark.django_db
Status = Registration.Status


@pytest.fixture
def event(cluster):
    return EventFactory(clusters=[cluster], capacity=10, title="Lean robotics day")


@pytest.fixture
def session(event):
    return SessionFactory(event=event)


@pytest.fixture
def registration(event, member):
    return RegistrationFactory(event=event, user=member.user)


@pytest.fixture
def other_organiser(other_cluster):
    profile = ProfileFactory(display_name="Other Organiser")
    ClusterOrganiserFactory(cluster=other_cluster, user=profile.user)
    return profile.user


def organiser_urls(event, session, registration) -> list[tuple[str, str]]:
    """(method, url) of every organiser route of one event."""
    slug = event.slug
    token = checkin_token(registration_id=registration.pk)
    return [
        ("get", reverse("events:edit", args=[slug])),
        ("post", reverse("events:edit", args=[slug])),
        ("post", reverse("events:publish", args=[slug])),
        ("post", reverse("events:duplicate", args=[slug])),
        ("get", reverse("events:cancel_event", args=[slug])),
        ("post", reverse("events:cancel_event", args=[slug])),
        ("get", reverse("events:session_create", args=[slug])),
        ("get", reverse("events:session_edit", args=[slug, session.pk])),
        ("get", reverse("events:session_cancel_organiser", args=[slug, session.pk])),
        ("post", reverse("events:session_cancel_organiser", args=[slug, session.pk])),
        ("get", reverse("events:stage", args=[slug])),
        ("get", reverse("events:dashboard", args=[slug])),
        ("post", reverse("events:dashboard", args=[slug])),
        ("get", reverse("events:export_csv", args=[slug])),
        ("get", reverse("events:checkin", args=[slug])),
        ("post", reverse("events:checkin", args=[slug])),
        ("get", reverse("events:checkin_scan", args=[slug, token])),
        ("get", reverse("events:attendance_import", args=[slug])),
        ("get", reverse("events:invitations", args=[slug])),
    ]


def test_every_organiser_page_is_404_for_other_organisers_and_members(
    client_for, event, session, registration, other_organiser, colleague
):
    for viewer in (other_organiser, colleague.user, registration.user):
        client = client_for(viewer)
        for method, url in organiser_urls(event, session, registration):
            data = {"registration_id": registration.pk, "action": "cancel"}
            response = getattr(client, method)(url, data if method == "post" else None)
            assert response.status_code == 404, (viewer, method, url)
    event.refresh_from_db()
    registration.refresh_from_db()
    assert (event.status, registration.status) == (Event.Status.PUBLISHED, Status.CONFIRMED)
    # Organisers of any cluster may create events; plain members may not.
    assert client_for(colleague.user).get(reverse("events:create")).status_code == 404


def test_organiser_pages_ask_anonymous_visitors_to_sign_in(
    client_for, event, session, registration
):
    for method, url in organiser_urls(event, session, registration):
        response = getattr(client_for(None), method)(url)
        assert response.status_code == 302, url
        assert response.url.startswith(reverse("account_login"))


def test_every_organiser_page_opens_for_the_organiser(
    client_for, organiser, event, session, registration
):
    client = client_for(organiser)
    for method, url in organiser_urls(event, session, registration):
        if method == "get":
            assert client.get(url).status_code == 200, url


def test_staff_manage_every_event(client_for, staff, event):
    assert client_for(staff).get(reverse("events:dashboard", args=[event.slug])).status_code == 200


# --- authoring -------------------------------------------------------------------------


def event_post(cluster, **overrides):
    data = {
        "kind": "conference",
        "title": "Hydrogen valleys",
        "clusters": [cluster.pk],
        "timezone": "Europe/Vienna",
        "starts_at": "2027-03-27T10:00",
        "ends_at": "2027-03-28T17:00",
        "audience": "members",
    }
    return {**data, **overrides}


def test_the_new_event_route_is_not_shadowed_by_the_event_page():
    assert resolve(reverse("events:create")).url_name == "create"


def test_times_are_read_in_the_events_zone_across_the_vienna_dst_change(
    client_for, organiser, cluster
):
    """Vienna is UTC+1 on Saturday 27 March 2027 and UTC+2 from Sunday 28 March 03:00."""
    response = client_for(organiser).post(reverse("events:create"), event_post(cluster))
    assert response.status_code == 302
    event = Event.objects.get()
    assert response.url == reverse("events:dashboard", args=[event.slug])
    assert event.starts_at == datetime(2027, 3, 27, 9, 0, tzinfo=UTC)
    assert event.ends_at == datetime(2027, 3, 28, 15, 0, tzinfo=UTC)
    assert event.status == Event.Status.DRAFT

    # The edit form shows the same wall-clock times back.
    page = client_for(organiser).get(reverse("events:edit", args=[event.slug])).content.decode()
    assert 'value="2027-03-27T10:00"' in page
    assert 'value="2027-03-28T17:00"' in page

    # A session on the Sunday morning, typed in Vienna time.
    response = client_for(organiser).post(
        reverse("events:session_create", args=[event.slug]),
        {
            "kind": "talk",
            "title": "Sunday keynote",
            "starts_at": "2027-03-28T09:00",
            "ends_at": "2027-03-28T10:00",
        },
    )
    assert response.status_code == 302
    assert event.sessions.get().starts_at == datetime(2027, 3, 28, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        ("2027-03-28T01:30", datetime(2027, 3, 28, 0, 30, tzinfo=UTC)),  # still winter time
        ("2027-03-28T03:30", datetime(2027, 3, 28, 1, 30, tzinfo=UTC)),  # already summer time
        ("2027-10-30T12:00", datetime(2027, 10, 30, 10, 0, tzinfo=UTC)),
        ("2027-10-31T12:00", datetime(2027, 10, 31, 11, 0, tzinfo=UTC)),
    ],
)
def test_the_event_form_converts_vienna_wall_clock_to_utc(cluster, local, utc):
    form = EventForm(event_post(cluster, starts_at=local, ends_at="2027-11-30T10:00"))
    assert form.is_valid(), form.errors
    assert form.cleaned_data["starts_at"] == utc


def test_the_event_form_refuses_skipped_and_repeated_times(cluster):
    skipped = EventForm(event_post(cluster, starts_at="2027-03-28T02:30"))
    repeated = EventForm(
        event_post(cluster, starts_at="2027-10-31T02:30", ends_at="2027-11-01T10:00")
    )
    assert not skipped.is_valid() and not repeated.is_valid()
    assert "the clocks skip it" in skipped.errors["starts_at"][0]
    assert "happens twice" in repeated.errors["starts_at"][0]


def test_the_session_form_uses_the_events_zone_not_the_sites(cluster, settings):
    settings.TIME_ZONE = "Europe/Lisbon"
    event = EventFactory(clusters=[cluster], timezone="Europe/Vienna")
    form = SessionForm(
        {
            "kind": "talk",
            "title": "T",
            "starts_at": "2027-03-28T09:00",
            "ends_at": "2027-03-28T10:00",
        },
        event=event,
    )
    assert form.is_valid(), form.errors
    assert form.cleaned_data["starts_at"] == datetime(2027, 3, 28, 7, 0, tzinfo=UTC)


def test_a_time_the_clocks_skip_is_refused(client_for, organiser, cluster):
    response = client_for(organiser).post(
        reverse("events:create"), event_post(cluster, starts_at="2027-03-28T02:30")
    )
    assert response.status_code == 400
    assert "02:30 does not exist in Europe/Vienna" in response.content.decode()
    assert not Event.objects.exists()


def test_validation_messages_reach_the_form(client_for, organiser, cluster, other_cluster):
    response = client_for(organiser).post(
        reverse("events:create"),
        event_post(
            cluster,
            clusters=[other_cluster.pk],
            ends_at="2027-03-27T09:00",
        ),
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert "The event must end after it starts." in page
    assert "At least one organising cluster must be one that you organise." in page


def test_publish_duplicate_and_cancel_from_the_dashboard(
    client_for, organiser, cluster, member, mailoutbox, django_capture_on_commit_callbacks
):
    client = client_for(organiser)
    draft = EventFactory(clusters=[cluster], status=Event.Status.DRAFT)
    assert client.post(reverse("events:publish", args=[draft.slug])).status_code == 302
    draft.refresh_from_db()
    assert draft.status == Event.Status.PUBLISHED

    response = client.post(reverse("events:duplicate", args=[draft.slug]))
    copy = Event.objects.exclude(pk=draft.pk).get()
    assert response.url == reverse("events:edit", args=[copy.slug])
    assert copy.status == Event.Status.DRAFT

    services.event_register(event=draft, user=member.user)
    mailoutbox.clear()
    confirm = client.get(reverse("events:cancel_event", args=[draft.slug])).content.decode()
    assert "1 people with an active registration will be told" in confirm
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("events:cancel_event", args=[draft.slug]))
    draft.refresh_from_db()
    assert draft.status == Event.Status.CANCELLED
    assert [m.to for m in mailoutbox] == [[member.user.email]]


def test_a_guest_gender_needs_the_consent_box_and_is_never_listed(client_for, organiser, event):
    client = client_for(organiser)
    url = reverse("events:stage", args=[event.slug])
    data = {"role": "panellist", "guest_name": "Ines Vogel", "guest_gender": "woman"}
    response = client.post(url, data)
    assert response.status_code == 400
    assert "Tick the consent box" in response.content.decode()
    assert not StageRole.objects.exists()
    assert client.post(url, {**data, "guest_gender_consent": "on"}).status_code == 302
    role = StageRole.objects.get()
    assert (role.guest_gender, role.guest_gender_consent) == ("woman", True)
    page = client.get(url).content.decode()
    assert "Ines Vogel" in page
    assert 'value="woman" selected' not in page
    client.post(url, {"action": "remove", "role_id": role.pk})
    assert not StageRole.objects.exists()


# --- the dashboard ---------------------------------------------------------------------


def test_the_dashboard_counts_and_lists_registrations(client_for, organiser, event, organisation):
    RegistrationFactory.create_batch(2, event=event)
    RegistrationFactory(event=event, status=Status.WAITLISTED, waitlist_position=1)
    RegistrationFactory(event=event, status=Status.ATTENDED)
    RegistrationFactory(event=event, status=Status.NO_SHOW)
    someone = ProfileFactory(display_name="Pia Pending", organisation=organisation)
    RegistrationFactory(event=event, status=Status.PENDING, user=someone.user)
    response = client_for(organiser).get(reverse("events:dashboard", args=[event.slug]))
    counts = response.context["counts"]
    assert (counts["confirmed"], counts["waitlisted"], counts["pending"]) == (2, 1, 1)
    assert (counts["attended"], counts["no_show"]) == (1, 1)
    assert response.context["free"] == 6
    page = response.content.decode()
    assert "Pia Pending" in page and "Keller Antriebstechnik" in page
    assert someone.user.email in page


def test_dashboard_queries_do_not_grow_with_registrations(client_for, organiser, event):
    client = client_for(organiser)
    url = reverse("events:dashboard", args=[event.slug])
    RegistrationFactory(event=event)
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    RegistrationFactory.create_batch(49, event=event)
    with CaptureQueriesContext(connection) as fifty:
        client.get(url)
    assert len(fifty) == len(one)


def test_dashboard_actions_approve_promote_reorder_and_cancel(
    client_for, organiser, cluster, organisation, mailoutbox, django_capture_on_commit_callbacks
):
    event = EventFactory(clusters=[cluster], capacity=2)
    client = client_for(organiser)
    url = reverse("events:dashboard", args=[event.slug])
    users = [ProfileFactory(organisation=organisation).user for _ in range(4)]
    regs = [services.event_register(event=event, user=u) for u in users]
    assert [r.status for r in regs][2:] == [Status.WAITLISTED, Status.WAITLISTED]

    client.post(url, {"action": "move_down", "registration_id": regs[2].pk})
    regs[2].refresh_from_db()
    regs[3].refresh_from_db()
    assert (regs[2].waitlist_position, regs[3].waitlist_position) == (2, 1)

    response = client.post(url, {"action": "promote", "registration_id": regs[2].pk}, follow=True)
    assert "The event is full" in response.content.decode()

    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        client.post(url, {"action": "cancel", "registration_id": regs[0].pk})
    for r in regs:
        r.refresh_from_db()
    assert regs[0].status == Status.CANCELLED
    assert regs[3].status == Status.CONFIRMED  # first in line after the reorder
    assert sorted(m.to[0] for m in mailoutbox) == sorted([users[0].email, users[3].email])

    pending_event = EventFactory(clusters=[cluster], approval_required=True)
    pending = services.event_register(event=pending_event, user=users[1])
    client.post(
        reverse("events:dashboard", args=[pending_event.slug]),
        {"action": "approve", "registration_id": pending.pk},
    )
    pending.refresh_from_db()
    assert pending.status == Status.CONFIRMED


def test_a_registration_of_another_event_cannot_be_acted_on(client_for, organiser, cluster):
    mine = EventFactory(clusters=[cluster])
    theirs = RegistrationFactory()
    response = client_for(organiser).post(
        reverse("events:dashboard", args=[mine.slug]),
        {"action": "cancel", "registration_id": theirs.pk},
    )
    assert response.status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == Status.CONFIRMED


def test_the_csv_export_has_no_gender_column_and_only_this_events_people(
    client_for, organiser, event, member, outsider
):
    GenderIdentityFactory(user=member.user, gender="woman", statistics_consent=True)
    mine = RegistrationFactory(event=event, user=member.user)
    services.attendance_mark(registration=mine, by=organiser)
    RegistrationFactory(event=EventFactory(clusters=[event.clusters.get()]), user=outsider.user)
    RegistrationFactory(event=event, user=ProfileFactory(display_name="=HYPERLINK(1)").user)
    response = client_for(organiser).get(reverse("events:export_csv", args=[event.slug]))
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    text = response.content.decode("utf-8-sig")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0] == ["name", "organisation", "e-mail", "status", "registered at", "checked in at"]
    assert not any("gender" in cell.lower() for cell in rows[0])
    assert "woman" not in text.lower()
    assert [r[2] for r in rows[1:]].count(member.user.email) == 1
    assert outsider.user.email not in text
    anna = next(r for r in rows[1:] if r[2] == member.user.email)
    assert anna[:2] == ["Anna Keller", "Keller Antriebstechnik"]
    assert anna[3] == "Attended" and anna[5].endswith(("+01:00", "+02:00"))
    assert [r[0] for r in rows[1:] if "HYPERLINK" in r[0]] == ["'=HYPERLINK(1)"]


# --- check-in --------------------------------------------------------------------------


def test_checkin_search_finds_by_name_or_organisation_and_one_tap_marks(
    client_for, organiser, event, member, outsider
):
    anna = RegistrationFactory(event=event, user=member.user)
    yann = RegistrationFactory(event=event, user=outsider.user)
    RegistrationFactory(event=event, status=Status.WAITLISTED, waitlist_position=1)
    client = client_for(organiser)
    url = reverse("events:checkin", args=[event.slug])
    assert [r.pk for r in client.get(url, {"q": "anna"}).context["people"]] == [anna.pk]
    assert [r.pk for r in client.get(url, {"q": "Le Goff"}).context["people"]] == [yann.pk]
    assert len(client.get(url).context["people"]) == 2  # the waitlist has no seat

    response = client.post(url, {"registration_id": anna.pk, "q": "anna"})
    assert response.url == url + "?q=anna"
    anna.refresh_from_db()
    assert anna.status == Status.ATTENDED and anna.checked_in_at is not None
    assert client.get(url).context["counts"] == {"attended": 1, "expected": 2, "confirmed": 1}

    response = client.post(
        url, {"registration_id": anna.pk, "attended": "0"}, HTTP_ACCEPT="application/json"
    )
    data = json.loads(response.content)
    assert data["status"] == "confirmed"
    assert data["counts"] == {"attended": 0, "expected": 2, "confirmed": 2}


def test_a_scanned_code_opens_that_persons_checkin(client_for, organiser, event, registration):
    token = checkin_token(registration_id=registration.pk)
    response = client_for(organiser).get(reverse("events:checkin_scan", args=[event.slug, token]))
    assert response.status_code == 200
    assert response.context["registration"] == registration
    assert "Anna Keller" in response.content.decode()


def test_a_forged_or_foreign_code_is_404(client_for, organiser, cluster, event, registration):
    client = client_for(organiser)
    token = checkin_token(registration_id=registration.pk)
    forged = f"{registration.pk + 1}" + token[len(str(registration.pk)) :]
    assert client.get(reverse("events:checkin_scan", args=[event.slug, forged])).status_code == 404
    assert client.get(reverse("events:checkin_scan", args=[event.slug, "1:x:y"])).status_code == 404
    other_event = EventFactory(clusters=[cluster])
    assert (
        client.get(reverse("events:checkin_scan", args=[other_event.slug, token])).status_code
        == 404
    )


def test_a_participant_sees_their_own_qr_code_only_when_confirmed(
    client_for, event, registration, colleague
):
    response = client_for(registration.user).get(reverse("events:my_qr", args=[event.slug]))
    assert response.status_code == 200
    page = response.content.decode()
    assert "<svg" in page
    assert response["Cache-Control"] == "private, no-store"
    assert (
        client_for(colleague.user).get(reverse("events:my_qr", args=[event.slug])).status_code
        == 404
    )
    registration.status = Status.WAITLISTED
    registration.waitlist_position = 1
    registration.save(update_fields=["status", "waitlist_position"])
    assert (
        client_for(registration.user).get(reverse("events:my_qr", args=[event.slug])).status_code
        == 404
    )


# --- attendance import -----------------------------------------------------------------


def upload(text: str | bytes, name="participants.csv"):
    data = text.encode() if isinstance(text, str) else text
    return SimpleUploadedFile(name, data, content_type="text/csv")


def test_importing_a_participant_list_marks_the_matched_and_reports_the_rest(
    client_for, organiser, event, member, colleague, outsider, django_capture_on_commit_callbacks
):
    anna = RegistrationFactory(event=event, user=member.user)
    bruno = RegistrationFactory(event=event, user=colleague.user)
    RegistrationFactory(event=EventFactory(), user=outsider.user)  # another event's person
    csv_text = (
        "Name (Original Name),User Email,Duration (Minutes)\n"
        f"Anna Keller,{member.user.email.upper()},60\n"
        f"Yann Le Goff,{outsider.user.email},55\n"
        "Dial-in user,,12\n"
    )
    client = client_for(organiser)
    # The import runs as a job once the upload is stored (in-process in the tests); the
    # upload answers with its page.
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("events:attendance_import", args=[event.slug]), {"file": upload(csv_text)}
        )
    assert response.status_code == 302
    response = client.get(response["Location"])
    assert response.status_code == 200
    result = response.context["job"].result
    assert result["matched"] == 1
    assert [(r["line"], r["name"]) for r in result["unmatched"]] == [
        (3, "Yann Le Goff"),
        (4, "Dial-in user"),
    ]
    page = response.content.decode()
    assert "1 participant marked as attended." in page
    assert "2 rows matched no registration" in page and "Dial-in user" in page
    anna.refresh_from_db()
    bruno.refresh_from_db()
    assert anna.status == Status.ATTENDED
    assert bruno.status == Status.CONFIRMED


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("Name,Company\nAnna Keller,Keller\n", "No e-mail column found."),
        ("Name,Email\nJosé,{email}\n".encode("latin-1"), "The file is not UTF-8 text."),
        (b"PK\x03\x04\x00\x00binary{email}", "This is not a CSV file."),
    ],
)
def test_a_bad_file_imports_nothing_and_says_why(
    client_for, organiser, event, registration, data, message
):
    email = registration.user.email
    data = (
        data.replace("{email}", email)
        if isinstance(data, str)
        else data.replace(b"{email}", email.encode())
    )
    response = client_for(organiser).post(
        reverse("events:attendance_import", args=[event.slug]), {"file": upload(data)}
    )
    assert response.status_code == 400
    assert message in response.content.decode()
    registration.refresh_from_db()
    assert registration.status == Status.CONFIRMED


# --- invitations -----------------------------------------------------------------------


def test_invitations_are_added_from_a_pasted_list(client_for, organiser, cluster):
    event = EventFactory(clusters=[cluster], audience=Event.Audience.INVITATION)
    client = client_for(organiser)
    url = reverse("events:invitations", args=[event.slug])
    response = client.post(url, {"emails": "a@example.org, B@example.org;\nnope"})
    assert response.status_code == 400
    assert "Not an e-mail address: nope" in response.content.decode()
    client.post(url, {"emails": "a@example.org, B@example.org"})
    page = client.get(url).content.decode()
    assert "a@example.org" in page and "b@example.org" in page


def test_an_ended_event_can_still_be_checked_in_after_the_fact(client_for, organiser, cluster):
    start = timezone.now() - timedelta(hours=5)
    event = EventFactory(clusters=[cluster], starts_at=start, ends_at=start + timedelta(hours=2))
    late = RegistrationFactory(event=event)
    client_for(organiser).post(
        reverse("events:checkin", args=[event.slug]), {"registration_id": late.pk}
    )
    late.refresh_from_db()
    assert late.status == Status.ATTENDED


def test_waitlist_up_and_down_move_by_place_in_line_even_after_promotions(
    client_for, organiser, cluster, organisation
):
    event = EventFactory(clusters=[cluster], capacity=1)
    holder, a, b, c = (ProfileFactory(organisation=organisation).user for _ in range(4))
    seat = services.event_register(event=event, user=holder)
    for person in (a, b, c):
        services.event_register(event=event, user=person)
    services.registration_cancel(registration=seat, by=holder)  # a is promoted; b, c keep 2, 3
    last = Registration.objects.get(event=event, user=c)
    client_for(organiser).post(
        reverse("events:dashboard", args=[event.slug]),
        {"action": "move_up", "registration_id": last.pk},
    )
    line = Registration.objects.filter(event=event, status="waitlisted").order_by(
        "waitlist_position"
    )
    assert [r.user for r in line] == [c, b]


@pytest.mark.parametrize("name", ["dashboard", "checkin", "stage"])
def test_a_crafted_non_numeric_id_is_not_found_rather_than_an_error(
    client_for, organiser, event, name
):
    response = client_for(organiser).post(
        reverse(f"events:{name}", args=[event.slug]),
        {"action": "remove", "registration_id": "abc", "role_id": "abc"},
    )
    assert response.status_code == 404


def test_attendance_cannot_be_imported_for_a_cancelled_event(client_for, organiser, event):
    Event.objects.filter(pk=event.pk).update(status=Event.Status.CANCELLED)
    upload = SimpleUploadedFile("p.csv", b"Name,Email\nAnna,anna@example.org\n", "text/csv")
    response = client_for(organiser).post(
        reverse("events:attendance_import", args=[event.slug]), {"file": upload}
    )
    assert response.status_code in (200, 400)
    assert "cancelled" in response.content.decode()


def test_an_event_form_with_a_year_out_of_range_says_so(organiser, cluster):
    data = {
        "kind": "webinar",
        "title": "Far future",
        "clusters": [cluster.pk],
        "timezone": "America/New_York",
        "audience": "members",
        "starts_at": "9999-12-31T20:00",
        "ends_at": "9999-12-31T22:00",
    }
    form = EventForm(data=data)
    assert not form.is_valid()
    assert "between 1900 and 2200" in str(form.errors)


# --- messages --------------------------------------------------------------------------


@pytest.fixture
def undeliverable(settings, event, member, cluster):
    """The registration mail of `event` and of another event, both given up by the sweeper."""
    services.event_register(event=event, user=member.user)  # its task never runs
    other = EventFactory(clusters=[cluster], title="Another day")
    services.event_register(event=other, user=member.user)
    settings.OUTBOX_MAX_AGE_SECONDS = 0
    outbox_sweep()
    settings.OUTBOX_MAX_AGE_SECONDS = 2 * 24 * 60 * 60
    mine, theirs = OutboxMessage.objects.order_by("pk")
    assert mine.batch == f"event:{event.pk}" and theirs.batch == f"event:{other.pk}"
    assert {mine.status, theirs.status} == {OutboxMessage.Status.FAILED}
    return mine, theirs


def test_the_dashboard_counts_this_events_messages_and_shows_why_one_failed(
    client_for, organiser, event, undeliverable
):
    RegistrationFactory(event=event)
    email_enqueue(
        message=EmailMessage("Hello", "Body", to=["queued@example.org"]),
        batch=f"event:{event.pk}",
    )

    response = client_for(organiser).get(reverse("events:dashboard", args=[event.slug]))

    delivery = response.context["delivery"]
    assert delivery["counts"]["failed"] == 1
    assert delivery["counts"]["queued"] == 1
    assert delivery["counts"]["sent"] == 0
    page = response.content.decode()
    assert 'id="h-messages"' in page
    assert "gave up after max age" in page
    mine, _theirs = undeliverable
    assert mine.recipient in page
    assert 'value="retry_failed"' in page


def test_retry_failed_requeues_this_events_messages_and_they_are_sent(
    client_for,
    organiser,
    event,
    member,
    undeliverable,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    mine, theirs = undeliverable
    url = reverse("events:dashboard", args=[event.slug])

    with django_capture_on_commit_callbacks(execute=True):
        response = client_for(organiser).post(url, {"action": "retry_failed"})

    assert response.status_code == 302
    assert response.url == url + "#h-messages"
    [sent] = mailoutbox
    assert sent.to == [member.user.email]
    assert event.title in sent.subject
    mine.refresh_from_db()
    theirs.refresh_from_db()
    assert (mine.status, theirs.status) == (OutboxMessage.Status.SENT, OutboxMessage.Status.FAILED)
    page = client_for(organiser).get(url).content.decode()
    assert "gave up after max age" not in page
    assert 'value="retry_failed"' not in page


def test_another_organiser_cannot_see_or_retry_this_events_messages(
    client_for,
    other_organiser,
    event,
    undeliverable,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    url = reverse("events:dashboard", args=[event.slug])
    client = client_for(other_organiser)

    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(url, {"action": "retry_failed"}).status_code == 404
    assert client.get(url).status_code == 404

    assert mailoutbox == []
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {"failed"}


def test_dashboard_queries_do_not_grow_with_failed_messages(client_for, organiser, event, settings):
    client = client_for(organiser)
    url = reverse("events:dashboard", args=[event.slug])

    def fail(n: int) -> None:
        for i in range(n):
            email_enqueue(
                message=EmailMessage("Hi", "Body", to=[f"p{i}@example.org"]),
                batch=f"event:{event.pk}",
            )
        settings.OUTBOX_MAX_AGE_SECONDS = 0
        outbox_sweep()

    fail(1)
    client.get(url)
    with CaptureQueriesContext(connection) as one:
        client.get(url)
    fail(20)
    with CaptureQueriesContext(connection) as twenty_one:
        response = client.get(url)
    assert response.context["delivery"]["counts"]["failed"] == 21
    assert len(twenty_one) == len(one)
