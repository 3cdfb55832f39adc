"""What organisers and invited people notice of invitation campaigns."""

from datetime import timedelta
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import icalendar
import pytest
from django.core import signing
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from events import campaigns, tasks
from events.models import Campaign, CampaignRecipient, Event, Invitation, Registration
from events.tasks import campaign_fanout_task
from members import membership
from members.models import Organisation
from members.preferences import preferences_update
from notifications.models import OutboxMessage
from tests.events.factories import EventFactory, RegistrationFactory
from tests.factories import (
    ClusterOrganiserFactory,
    OrganisationFactory,
    ProfileFactory,
    SectorFactory,
    TopicFactory,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def event(cluster):
    return EventFactory(clusters=[cluster], title="Hydrogen Day", venue_name="Tabakfabrik")


def make_campaign(event, organiser, **criteria) -> Campaign:
    return campaigns.campaign_create(event=event, by=organiser, **criteria)


def audience_emails(campaign) -> set[str]:
    members, non_members = campaigns.campaign_audience(campaign=campaign)
    return {u.email for u in members} | set(non_members)


def send(campaign, organiser, capture, **kwargs):
    with capture(execute=True):
        campaigns.campaign_send(campaign=campaign, by=organiser, **kwargs)
    campaign.refresh_from_db()
    return campaign


def rsvp_url_of(message) -> str:
    for line in message.body.splitlines():
        if "/rsvp/" in line:
            return urlsplit(line.strip()).path
    raise AssertionError("no RSVP link in the message")


# --- audience --------------------------------------------------------------------------


def test_no_criteria_reaches_nobody(event, organiser, member, colleague):
    campaign = make_campaign(event, organiser)
    assert audience_emails(campaign) == set()
    assert campaigns.campaign_preview_count(campaign=campaign) == 0


def test_clusters_reach_the_members_of_their_organisations(
    event, organiser, cluster, member, colleague, outsider
):
    campaign = make_campaign(event, organiser, clusters=[cluster])
    assert audience_emails(campaign) == {member.user.email, colleague.user.email}


def test_organisers_cannot_target_clusters_they_do_not_run(event, organiser, other_cluster):
    with pytest.raises(ValidationError):
        make_campaign(event, organiser, clusters=[other_cluster])


def test_organisation_kind_sector_topic_and_country_each_select(event, organiser, cluster):
    hydrogen = TopicFactory(name="Hydrogen")
    steel = SectorFactory(name="Steel")
    research = OrganisationFactory(
        kind=Organisation.Kind.RESEARCH, country="DE", clusters=[cluster]
    )
    steelworks = OrganisationFactory(
        kind=Organisation.Kind.LARGE_COMPANY, sectors=[steel], clusters=[cluster]
    )
    plain = OrganisationFactory(kind=Organisation.Kind.SME, country="AT", clusters=[cluster])
    scientist = ProfileFactory(organisation=research)
    welder = ProfileFactory(organisation=steelworks)
    curious = ProfileFactory(interests=[hydrogen], organisation=plain)
    french = ProfileFactory(country="FR", organisation=plain)

    assert audience_emails(
        make_campaign(event, organiser, organisation_kinds=[Organisation.Kind.RESEARCH])
    ) == {scientist.user.email}
    assert audience_emails(make_campaign(event, organiser, sectors=[steel])) == {welder.user.email}
    assert audience_emails(make_campaign(event, organiser, topics=[hydrogen])) == {
        curious.user.email
    }
    # Own country, or else the organisation's.
    assert audience_emails(make_campaign(event, organiser, countries=["FR", "DE"])) == {
        french.user.email,
        scientist.user.email,
    }


def test_signed_in_visitors_are_in_no_audience_whatever_their_profile_says(
    event, organiser, cluster
):
    """Criteria on a person's own profile (interests, sectors, country) reach members only:
    someone whose affiliation is not confirmed, or whose organisation belongs to no cluster
    today, is not invited however well their profile matches."""
    hydrogen = TopicFactory(name="Hydrogen")
    steel = SectorFactory(name="Steel")
    member_org = OrganisationFactory(clusters=[cluster])
    outside_org = OrganisationFactory()
    member = ProfileFactory(
        interests=[hydrogen], sectors=[steel], country="FR", organisation=member_org
    )
    ProfileFactory(interests=[hydrogen], sectors=[steel], country="FR")  # no organisation
    ProfileFactory(interests=[hydrogen], sectors=[steel], country="FR", organisation=outside_org)
    pending = ProfileFactory(interests=[hydrogen], sectors=[steel], country="FR")
    membership.affiliation_request(user=pending.user, organisation=member_org)
    for criteria in ({"topics": [hydrogen]}, {"sectors": [steel]}, {"countries": ["FR"]}):
        assert audience_emails(make_campaign(event, organiser, **criteria)) == {
            member.user.email
        }, criteria


def test_criteria_combine_with_and_values_within_one_with_or(event, organiser, cluster):
    research = OrganisationFactory(
        kind=Organisation.Kind.RESEARCH, country="DE", clusters=[cluster]
    )
    sme_de = OrganisationFactory(kind=Organisation.Kind.SME, country="DE", clusters=[cluster])
    sme_at = OrganisationFactory(kind=Organisation.Kind.SME, country="AT", clusters=[cluster])
    a = ProfileFactory(organisation=research)
    b = ProfileFactory(organisation=sme_de)
    ProfileFactory(organisation=sme_at)
    campaign = make_campaign(
        event,
        organiser,
        organisation_kinds=[Organisation.Kind.RESEARCH, Organisation.Kind.SME],
        countries=["DE"],
    )
    assert audience_emails(campaign) == {a.user.email, b.user.email}


def test_past_attendees_of_chosen_events_not_the_no_shows(event, organiser, cluster):
    past = EventFactory(
        clusters=[cluster],
        starts_at=timezone.now() - timedelta(days=30),
        ends_at=timezone.now() - timedelta(days=30) + timedelta(hours=2),
    )
    organisation = OrganisationFactory(clusters=[cluster])
    came = RegistrationFactory(
        event=past,
        status=Registration.Status.ATTENDED,
        user=ProfileFactory(organisation=organisation).user,
    )
    RegistrationFactory(
        event=past,
        status=Registration.Status.NO_SHOW,
        user=ProfileFactory(organisation=organisation).user,
    )
    campaign = make_campaign(event, organiser, past_events=[past])
    assert audience_emails(campaign) == {came.user.email}


def test_members_who_turned_invitations_off_or_chose_other_topics_are_left_out(
    event, organiser, cluster, member, colleague
):
    hydrogen, ai = TopicFactory(name="Hydrogen"), TopicFactory(name="AI")
    event.topics.set([hydrogen])
    third = ProfileFactory(organisation=member.organisation)
    preferences_update(user=member.user, invitations=False)
    preferences_update(user=colleague.user, invitation_topics=[ai])
    preferences_update(user=third.user, invitation_topics=[hydrogen])
    # Listing their address does not bring an opted-out member back, even as a "non-member".
    campaign = make_campaign(event, organiser, clusters=[cluster], emails=member.user.email)
    assert audience_emails(campaign) == {third.user.email}


def test_inactive_and_already_registered_members_are_left_out(
    event, organiser, cluster, member, colleague
):
    colleague.user.is_active = False
    colleague.user.save(update_fields=["is_active"])
    third = ProfileFactory(organisation=member.organisation)
    RegistrationFactory(event=event, user=third.user)
    campaign = make_campaign(event, organiser, clusters=[cluster])
    assert audience_emails(campaign) == {member.user.email}


def test_uploaded_addresses_add_non_members_and_members(event, organiser, member):
    campaign = make_campaign(
        event,
        organiser,
        emails=f"Guest@Example.com\n\n{member.user.email.upper()}\nguest@example.com; b@x.org",
    )
    members, non_members = campaigns.campaign_audience(campaign=campaign)
    assert [u.email for u in members] == [member.user.email]
    assert non_members == ["b@x.org", "guest@example.com"]
    assert campaigns.campaign_preview_count(campaign=campaign) == 3


def test_an_invalid_uploaded_address_refuses_the_list(event, organiser):
    with pytest.raises(ValidationError, match="not-an-address"):
        make_campaign(event, organiser, emails="ok@example.org\nnot-an-address")
    assert not Campaign.objects.exists()


def test_preview_is_counted_in_a_constant_number_of_queries(
    event, organiser, cluster, django_assert_max_num_queries
):
    organisation = OrganisationFactory(clusters=[cluster])
    for _ in range(30):
        ProfileFactory(organisation=organisation)
    campaign = make_campaign(event, organiser, clusters=[cluster], emails="x@example.org")
    campaign = Campaign.objects.get(pk=campaign.pk)
    with django_assert_max_num_queries(8):
        assert campaigns.campaign_preview_count(campaign=campaign) == 31


# --- sending ---------------------------------------------------------------------------


def test_what_is_sent_is_what_the_preview_counted_one_message_each(
    event, organiser, cluster, member, colleague, mailoutbox, django_capture_on_commit_callbacks
):
    campaign = make_campaign(event, organiser, clusters=[cluster], emails="guest@example.org")
    preview = campaigns.campaign_preview_count(campaign=campaign)
    campaign = send(campaign, organiser, django_capture_on_commit_callbacks)

    assert campaign.status == Campaign.Status.SENT
    assert campaign.sent_at is not None
    assert campaign.recipient_count == preview == 3
    assert sorted(m.to[0] for m in mailoutbox) == sorted(
        [member.user.email, colleague.user.email, "guest@example.org"]
    )
    rows = OutboxMessage.objects.filter(kind="events.invitation")
    assert set(rows.values_list("batch", flat=True)) == {f"campaign:{campaign.pk}"}
    assert set(rows.values_list("idempotency_key", flat=True)) == {
        f"events.invitation:{campaign.pk}:{e}"
        for e in (member.user.email, colleague.user.email, "guest@example.org")
    }


def test_an_invitation_carries_time_in_the_event_zone_ics_rsvp_and_unsubscribe(
    event, organiser, cluster, member, mailoutbox, django_capture_on_commit_callbacks
):
    campaign = make_campaign(
        event, organiser, emails=f"{member.user.email}\nguest@example.org", message="Join us!"
    )
    send(campaign, organiser, django_capture_on_commit_callbacks)
    by_to = {m.to[0]: m for m in mailoutbox}
    to_member, to_guest = by_to[member.user.email], by_to["guest@example.org"]

    start = event.starts_at.astimezone(ZoneInfo(event.timezone))
    assert start.strftime("%H:%M") in to_member.body
    assert "Europe/Vienna" in to_member.body
    assert "Join us!" in to_member.body
    assert "Hydrogen Day" in to_member.subject
    html = [c for c, mimetype in to_member.alternatives if mimetype == "text/html"][0]
    assert "Join us!" in html and "/rsvp/" in html
    (ics,) = [c for name, c, _ in to_member.attachments if name == "event.ics"]
    calendar = icalendar.Calendar.from_ical(ics)
    (vevent,) = calendar.walk("VEVENT")
    assert str(vevent["SUMMARY"]) == "Hydrogen Day"
    assert str(calendar["METHOD"]) == "PUBLISH"
    assert to_member.extra_headers["List-Unsubscribe"].startswith("<http")
    assert "/unsubscribe/" in to_member.body
    assert to_member.reply_to == [organiser.email]
    # Non-members are not on any list they could leave.
    assert "List-Unsubscribe" not in to_guest.extra_headers
    assert "/unsubscribe/" not in to_guest.body
    assert "/rsvp/" in to_guest.body


def test_sending_twice_sends_once(
    event, organiser, cluster, member, colleague, mailoutbox, django_capture_on_commit_callbacks
):
    campaign = make_campaign(event, organiser, clusters=[cluster])
    send(campaign, organiser, django_capture_on_commit_callbacks)
    with pytest.raises(ValidationError), django_capture_on_commit_callbacks(execute=True):
        campaigns.campaign_send(campaign=campaign, by=organiser)
    # Running the whole fan-out again from the beginning (as for a campaign sent before
    # the cursor was stored) sends nobody a second invitation.
    Campaign.objects.filter(pk=campaign.pk).update(
        status=Campaign.Status.SENDING, fanout_after_user=0, fanout_after_email=""
    )
    with django_capture_on_commit_callbacks(execute=True):
        campaign_fanout_task(campaign_id=campaign.pk)
    assert len(mailoutbox) == 2
    assert OutboxMessage.objects.filter(kind="events.invitation").count() == 2
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 2


def test_fan_out_runs_in_chunks_each_a_task_of_its_own(
    event, organiser, cluster, monkeypatch, mailoutbox, django_capture_on_commit_callbacks
):
    organisation = OrganisationFactory(clusters=[cluster])
    people = [ProfileFactory(organisation=organisation).user.email for _ in range(5)]
    guests = ["a@guest.org", "b@guest.org"]
    campaign = make_campaign(event, organiser, clusters=[cluster], emails="\n".join(guests))

    runs, chunks = [], []
    original_delay = campaign_fanout_task.delay
    original_chunk = campaigns.campaign_fanout_chunk

    def counting_delay(**kwargs):
        runs.append(kwargs)
        return original_delay(**kwargs)

    def counting_chunk(**kwargs):
        before = CampaignRecipient.objects.count()
        result = original_chunk(**kwargs)
        chunks.append(CampaignRecipient.objects.count() - before)
        return result

    monkeypatch.setattr(campaign_fanout_task, "delay", counting_delay)
    monkeypatch.setattr(campaigns, "campaign_fanout_chunk", counting_chunk)
    send(campaign, organiser, django_capture_on_commit_callbacks, chunk_size=2)

    assert chunks == [2, 2, 2, 1, 0]
    assert len(runs) == 5
    assert all(run["chunk_size"] == 2 for run in runs)
    assert sorted(m.to[0] for m in mailoutbox) == sorted(people + guests)
    assert campaign.status == Campaign.Status.SENT
    assert campaign.recipient_count == 7


def test_an_invitation_only_event_lets_its_campaign_recipients_in(
    cluster, organiser, django_capture_on_commit_callbacks
):
    event = EventFactory(clusters=[cluster], audience=Event.Audience.INVITATION)
    campaign = make_campaign(event, organiser, emails="guest@example.org")
    send(campaign, organiser, django_capture_on_commit_callbacks)
    assert Invitation.objects.filter(event=event, email="guest@example.org").exists()


def test_only_published_upcoming_events_send(cluster, organiser):
    draft = EventFactory(clusters=[cluster], status=Event.Status.DRAFT)
    campaign = make_campaign(draft, organiser, emails="guest@example.org")
    with pytest.raises(ValidationError):
        campaigns.campaign_send(campaign=campaign, by=organiser)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


# --- organiser pages -------------------------------------------------------------------


def test_organiser_builds_previews_and_sends_a_campaign(
    event, organiser, cluster, member, colleague, client_for, django_capture_on_commit_callbacks
):
    client = client_for(organiser)
    assert client.get(reverse("events:campaigns", args=[event.slug])).status_code == 200
    assert client.get(reverse("events:campaign_create", args=[event.slug])).status_code == 200
    response = client.post(
        reverse("events:campaign_create", args=[event.slug]),
        {"clusters": [cluster.pk], "emails": "guest@example.org", "message": "Hi"},
    )
    campaign = Campaign.objects.get()
    assert response.status_code == 302
    assert response["Location"] == campaign.get_absolute_url()
    page = client.get(campaign.get_absolute_url())
    assert page.context["preview"] == 3
    assert "3</strong> people will be invited" in page.content.decode()

    # The request only queues the fan-out: no invitation is written during it.
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = client.post(campaign.get_absolute_url())
    assert response.status_code == 302
    assert not OutboxMessage.objects.exists()
    assert not CampaignRecipient.objects.exists()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING
    assert len(callbacks) == 1
    # The queued task does the work.
    with django_capture_on_commit_callbacks(execute=True):
        callbacks[0]()
    assert OutboxMessage.objects.filter(kind="events.invitation").count() == 3

    page = client.get(campaign.get_absolute_url())
    assert page.context["recipients"] == 3
    assert page.context["delivery"]["counts"]["total"] == 3


def test_a_bad_address_in_the_form_is_shown_and_nothing_saved(event, organiser, client_for):
    response = client_for(organiser).post(
        reverse("events:campaign_create", args=[event.slug]), {"emails": "nope"}
    )
    assert response.status_code == 400
    assert "nope" in response.content.decode()
    assert not Campaign.objects.exists()


def test_organiser_of_another_cluster_gets_404(event, organiser, other_cluster, client_for):
    stranger = ProfileFactory().user
    ClusterOrganiserFactory(cluster=other_cluster, user=stranger)
    campaign = make_campaign(event, organiser, emails="guest@example.org")
    client = client_for(stranger)
    for url in (
        reverse("events:campaigns", args=[event.slug]),
        reverse("events:campaign_create", args=[event.slug]),
        campaign.get_absolute_url(),
    ):
        assert client.get(url).status_code == 404
    assert client.post(campaign.get_absolute_url()).status_code == 404
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.DRAFT


def test_a_campaign_of_another_event_is_404(event, organiser, cluster, client_for):
    other = EventFactory(clusters=[cluster])
    campaign = make_campaign(other, organiser, emails="guest@example.org")
    url = reverse("events:campaign_detail", args=[event.slug, campaign.pk])
    assert client_for(organiser).get(url).status_code == 404


# --- RSVP ------------------------------------------------------------------------------


def test_the_rsvp_link_registers_the_invited_member_after_confirming(
    event,
    organiser,
    cluster,
    member,
    colleague,
    client_for,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    send(
        make_campaign(event, organiser, clusters=[cluster]),
        organiser,
        django_capture_on_commit_callbacks,
    )
    message = next(m for m in mailoutbox if m.to == [member.user.email])
    url = rsvp_url_of(message)
    client = client_for(None)  # no login: the link is the credential

    page = client.get(url)
    assert page.status_code == 200
    assert "Hydrogen Day" in page.content.decode()
    assert not Registration.objects.filter(event=event).exists()  # GET changes nothing

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"answer": "yes"})
    assert response.status_code == 302
    registration = Registration.objects.get(event=event)
    assert registration.user == member.user
    assert registration.status == Registration.Status.CONFIRMED
    recipient = CampaignRecipient.objects.get(email=member.user.email)
    assert recipient.rsvp == CampaignRecipient.Rsvp.YES
    assert "registered" in client.get(url).content.decode()


def test_declining_records_the_answer_and_registers_nobody(
    event, organiser, member, client_for, mailoutbox, django_capture_on_commit_callbacks
):
    send(
        make_campaign(event, organiser, emails=member.user.email),
        organiser,
        django_capture_on_commit_callbacks,
    )
    url = rsvp_url_of(mailoutbox[0])
    client_for(None).post(url, {"answer": "no"})
    assert not Registration.objects.exists()
    assert CampaignRecipient.objects.get().rsvp == CampaignRecipient.Rsvp.NO


def test_a_registration_refusal_is_shown_as_a_message(
    event, organiser, member, client_for, mailoutbox, django_capture_on_commit_callbacks
):
    send(
        make_campaign(event, organiser, emails=member.user.email),
        organiser,
        django_capture_on_commit_callbacks,
    )
    url = rsvp_url_of(mailoutbox[0])
    Event.objects.filter(pk=event.pk).update(
        registration_closes_at=timezone.now() - timedelta(minutes=1),
        registration_opens_at=timezone.now() - timedelta(days=1),
    )
    response = client_for(None).post(url, {"answer": "yes"}, follow=True)
    assert "Registration has closed." in response.content.decode()
    assert not Registration.objects.exists()


def test_a_non_member_rsvp_leads_to_sign_up_and_back_to_the_event(
    event, organiser, client_for, mailoutbox, django_capture_on_commit_callbacks
):
    send(
        make_campaign(event, organiser, emails="guest@example.org"),
        organiser,
        django_capture_on_commit_callbacks,
    )
    response = client_for(None).get(rsvp_url_of(mailoutbox[0]))
    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.path == reverse("account_signup")
    assert parse_qs(location.query)["next"] == [event.get_absolute_url()]
    assert "/unsubscribe/" not in mailoutbox[0].body


def test_forged_and_expired_rsvp_links_are_404(
    event, organiser, member, client_for, mailoutbox, django_capture_on_commit_callbacks
):
    campaign = make_campaign(event, organiser, emails=member.user.email)
    send(campaign, organiser, django_capture_on_commit_callbacks)
    client = client_for(None)
    url = rsvp_url_of(mailoutbox[0])
    token = url.rstrip("/").rsplit("/", 1)[1]

    forged = signing.TimestampSigner(salt="something else").sign_object(
        {"c": campaign.pk, "e": member.user.email}, compress=True
    )
    other_person = campaigns.rsvp_token(campaign=campaign, email="someone@else.org")
    for bad in (token[:-2] + "xx", forged, other_person):
        response = client.get(reverse("events:rsvp", args=[bad]))
        assert response.status_code == 404
        assert client.post(reverse("events:rsvp", args=[bad])).status_code == 404

    # The link stops working when the event is over.
    Event.objects.filter(pk=event.pk).update(
        starts_at=timezone.now() - timedelta(hours=3), ends_at=timezone.now() - timedelta(hours=1)
    )
    assert client.get(url).status_code == 404
    assert client.post(url, {"answer": "yes"}).status_code == 404
    assert not Registration.objects.exists()


def test_an_rsvp_link_older_than_its_maximum_age_is_404(
    event,
    organiser,
    member,
    client_for,
    mailoutbox,
    monkeypatch,
    django_capture_on_commit_callbacks,
):
    send(
        make_campaign(event, organiser, emails=member.user.email),
        organiser,
        django_capture_on_commit_callbacks,
    )
    url = rsvp_url_of(mailoutbox[0])
    monkeypatch.setattr(campaigns, "RSVP_MAX_AGE", timedelta(seconds=-1))
    assert client_for(None).get(url).status_code == 404


def test_other_people_are_not_affected_by_someones_rsvp(
    event,
    organiser,
    cluster,
    member,
    colleague,
    client_for,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    send(
        make_campaign(event, organiser, clusters=[cluster]),
        organiser,
        django_capture_on_commit_callbacks,
    )
    url = rsvp_url_of(next(m for m in mailoutbox if m.to == [colleague.user.email]))
    with django_capture_on_commit_callbacks(execute=True):
        client_for(member.user).post(url, {"answer": "yes"})  # signed in as someone else
    # The token, not the session, says who registers.
    assert list(Registration.objects.values_list("user", flat=True)) == [colleague.user.pk]


def test_the_campaign_page_retries_its_failed_invitations_only(client_for, organiser, cluster):
    event = EventFactory(clusters=[cluster])
    campaign = Campaign.objects.create(event=event, created_by=organiser, status="sent")
    mine = OutboxMessage.objects.create(
        recipient="a@example.org",
        kind="events.invitation",
        subject="s",
        body_text="b",
        from_email="x@example.org",
        status="failed",
        last_error="550 no such user",
        batch=campaigns.campaign_batch(campaign),
    )
    other = OutboxMessage.objects.create(
        recipient="b@example.org",
        kind="events.invitation",
        subject="s",
        body_text="b",
        from_email="x@example.org",
        status="failed",
        batch="campaign:0",
    )
    client = client_for(organiser)
    page = client.get(campaign.get_absolute_url())
    assert "550 no such user" in page.content.decode()
    client.post(campaign.get_absolute_url(), {"action": "retry_failed"})
    mine.refresh_from_db()
    other.refresh_from_db()
    assert mine.status == "queued"  # sent after the request's transaction commits
    assert other.status == "failed"


def test_a_campaign_whose_fan_out_was_lost_is_resumed_and_invites_everyone_once(
    cluster, organiser, django_capture_on_commit_callbacks
):
    event = EventFactory(clusters=[cluster])
    invitees = [
        ProfileFactory(organisation=OrganisationFactory(clusters=[cluster])) for _ in range(3)
    ]
    campaign = campaigns.campaign_create(event=event, by=organiser, clusters=[cluster])
    # Sent while the broker was down: the status says "sending", but no task ever ran.
    Campaign.objects.filter(pk=campaign.pk).update(
        status=Campaign.Status.SENDING, created_at=timezone.now() - timedelta(hours=1)
    )
    assert campaigns.campaigns_stalled() == [campaign.pk]
    with django_capture_on_commit_callbacks(execute=True):
        tasks.campaigns_resume_stalled_task.delay()
        tasks.campaigns_resume_stalled_task.delay()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    invited = OutboxMessage.objects.filter(kind="events.invitation").values_list(
        "recipient", flat=True
    )
    assert sorted(invited) == sorted(p.user.email for p in invitees)


def test_each_invitation_and_its_calendar_speak_the_recipients_language(
    cluster, organiser, member, colleague, mailoutbox, django_capture_on_commit_callbacks
):
    from django.utils import translation
    from django.utils.translation import gettext

    online = EventFactory(clusters=[cluster], online_url="https://meet.example/h", title="H2")
    member.preferred_language = "de"
    member.save()
    colleague.preferred_language = "fr"
    colleague.save()
    campaign = make_campaign(online, organiser, clusters=[cluster], emails="guest@example.org")
    with translation.override("it"):  # the organiser's own page language
        send(campaign, organiser, django_capture_on_commit_callbacks)

    by_address = {m.to[0]: m for m in mailoutbox}
    for address, language in (
        (member.user.email, "de"),
        (colleague.user.email, "fr"),
        ("guest@example.org", "en"),  # no member: the site's default
    ):
        with translation.override(language):
            subject_word = gettext("Invitation: %(title)s, %(when)s (%(zone)s)").split(":")[0]
            online_word = gettext("Online")
        message = by_address[address]
        assert subject_word in message.subject, (address, message.subject)
        [attachment] = [a for a in message.attachments if a[0] == "event.ics"]
        location = icalendar.Calendar.from_ical(attachment[1]).walk("VEVENT")[0]["LOCATION"]
        assert location.startswith(online_word), (address, location)


def test_invitations_rendered_together_are_the_ones_rendered_one_by_one(
    cluster, organiser, member, colleague
):
    from django.utils import translation

    event = EventFactory(clusters=[cluster], title="Cobots & <Co>", venue_name="Halle 1")
    member.display_name = 'Anna "A&B" <Keller>'
    member.save()
    colleague.display_name = ""
    colleague.save()
    campaign = make_campaign(event, organiser, clusters=[cluster], emails="guest@example.org")
    people = [
        (member.user.email, member.user),
        (colleague.user.email, colleague.user),
        ("guest@example.org", None),
        ("other@example.org", None),
    ]
    for language in ("de", "fr"):
        member.user.profile.preferred_language = colleague.user.profile.preferred_language = (
            language
        )
        with translation.override(language):
            together = campaigns.invitation_messages(campaign=campaign, people=people, ics="ICS")
        for (email, user), message in zip(people, together, strict=True):
            alone = campaigns.invitation_message(
                campaign=campaign, email=email, user=user, ics="ICS"
            )
            if user is None:  # a non-member reads the site's default; compare in the same
                with translation.override(language):
                    alone = campaigns.invitation_message.__wrapped__(
                        campaign=campaign, email=email, user=user, ics="ICS"
                    )
            for part in ("subject", "body", "alternatives", "attachments", "to", "reply_to"):
                assert getattr(message, part) == getattr(alone, part), (language, email, part)
            assert message.extra_headers == alone.extra_headers
    assert "Anna &quot;A&amp;B&quot; &lt;Keller&gt;" in together[0].alternatives[0][0]
    assert 'Anna "A&B" <Keller>' in together[0].body
