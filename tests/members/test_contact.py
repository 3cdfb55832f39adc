"""Members write to each other through the site without seeing each other's addresses.

Bruno (a colleague in Anna's cluster) writes to Anna: the mail goes through the outbox to
Anna in her language, from the site with Bruno's name and Reply-To Bruno; no page Bruno
sees and no mail he gets holds Anna's address. Anna chooses who may write to her; Bruno
can send only so many; a report from Anna blocks him and reaches his cluster's organisers.
"""

import re
from datetime import timedelta

import pytest
from django.core import mail
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from members import contact, services
from members.models import ContactMessage, ContactReport, Profile
from notifications.models import OutboxMessage
from tests.factories import ClusterOrganiserFactory, ProfileFactory
from tests.integration.threads import run_together

pytestmark = pytest.mark.django_db

ANNA = "anna.keller@example.org"
BRUNO = "bruno.weiss@example.org"


@pytest.fixture
def anna(member) -> Profile:
    member.user.email = ANNA
    member.user.save(update_fields=["email"])
    return member


@pytest.fixture
def bruno(colleague) -> Profile:
    colleague.user.email = BRUNO
    colleague.user.save(update_fields=["email"])
    return colleague


def _post(client, profile, subject="Cobot cell", body="Could we talk about your cobot cell?"):
    return client.post(f"/members/{profile.pk}/contact/", {"subject": subject, "body": body})


def _send(sender: Profile, recipient: Profile, subject="Hello", body="Hi there") -> ContactMessage:
    return contact.contact_send(
        sender=sender.user, recipient_profile=recipient, subject=subject, body=body
    )


def _mail_to(address: str, kind: str = "members.contact") -> OutboxMessage:
    return OutboxMessage.objects.get(recipient=address, kind=kind)


def _report_path(row: OutboxMessage) -> str:
    return re.search(r"https?://[^/\s]+(/contact/report/[^/\s]+/)", row.body_text).group(1)


# --- sending, and whose address appears where -------------------------------------------


def test_a_colleague_writes_from_the_profile_and_never_sees_the_address(
    client_for, anna, bruno, django_capture_on_commit_callbacks
):
    client = client_for(bruno.user)

    profile_page = client.get(f"/members/{anna.pk}/").content.decode()
    form_page = client.get(f"/members/{anna.pk}/contact/")
    with django_capture_on_commit_callbacks(execute=True):
        sent = _post(client, anna)
    after = client.get(sent["Location"]).content.decode()

    assert f'href="/members/{anna.pk}/contact/"' in profile_page
    assert "Send a message" in profile_page
    assert form_page.status_code == 200
    assert "shows them your address" in " ".join(form_page.content.decode().split())
    assert sent.status_code == 302 and sent["Location"] == f"/members/{anna.pk}/"
    assert "Your message to Anna Keller is on its way" in after
    for page in (profile_page, form_page.content.decode(), after):
        assert ANNA not in page and "anna.keller" not in page
    message = ContactMessage.objects.get()
    assert (message.sender, message.recipient) == (bruno.user, anna.user)
    assert message.subject == "Cobot cell"


def test_the_mail_reaches_the_recipient_from_the_site_with_the_senders_name_and_reply_to(
    anna, bruno, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _send(bruno, anna, subject="Cobot cell", body="Could we talk?")

    to_anna = _mail_to(ANNA)
    assert to_anna.reply_to == BRUNO
    assert "Bruno Weiss" in to_anna.from_email and BRUNO not in to_anna.from_email
    assert "Bruno Weiss" in to_anna.subject and "Cobot cell" in to_anna.subject
    assert "Could we talk?" in to_anna.body_text and "Could we talk?" in to_anna.body_html
    delivered = next(m for m in mail.outbox if m.to == [ANNA])
    assert delivered.reply_to == [BRUNO]
    assert delivered.extra_headers.get("Reply-To", BRUNO) == BRUNO


def test_the_senders_copy_names_the_recipient_and_holds_no_trace_of_her_address(
    anna, bruno, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        _send(bruno, anna, subject="Cobot cell", body="Could we talk?")

    copy = _mail_to(BRUNO, kind="members.contact_copy")
    assert "Anna Keller" in copy.subject
    assert "Could we talk?" in copy.body_text
    visible = [copy.recipient, copy.subject, copy.body_text, copy.body_html, copy.from_email,
               copy.reply_to, str(copy.headers)]  # fmt: skip
    assert not any("anna.keller" in part.lower() for part in visible)
    delivered = next(m for m in mail.outbox if m.to == [BRUNO])
    assert "anna.keller" not in delivered.message().as_string().lower()
    # Bruno receives nothing else: only his copy is addressed to him.
    assert [m.to for m in mail.outbox if BRUNO in m.to] == [[BRUNO]]


def test_a_refused_or_invalid_message_writes_nothing(client_for, anna, bruno):
    client = client_for(bruno.user)

    empty = _post(client, anna, subject="Hi", body="   ")
    two_lines = _post(client, anna, subject="Hi\nthere", body="Text")

    assert empty.status_code == 400 and "This field is required." in empty.content.decode()
    assert two_lines.status_code == 400
    assert not ContactMessage.objects.exists() and not OutboxMessage.objects.exists()


# --- who may write -----------------------------------------------------------------------


def test_nobody_means_no_button_an_explanation_and_a_refused_post(client_for, anna, bruno):
    Profile.objects.filter(pk=anna.pk).update(contact_policy=Profile.ContactPolicy.NOBODY)
    client = client_for(bruno.user)

    profile_page = client.get(f"/members/{anna.pk}/").content.decode()
    form_page = client.get(f"/members/{anna.pk}/contact/")
    posted = _post(client, anna)

    assert "Send a message" not in profile_page
    assert f"/members/{anna.pk}/contact/" not in profile_page
    assert "Anna Keller does not take messages." in profile_page
    assert form_page.status_code == 403 and '<form method="post" class="card' not in (
        form_page.content.decode()
    )
    assert posted.status_code == 403
    assert not ContactMessage.objects.exists() and not OutboxMessage.objects.exists()


def test_members_of_my_clusters_lets_colleagues_write_but_not_other_clusters(
    client_for, anna, bruno, outsider
):
    # Anna is listed for all members, so Yann (another cluster) sees her profile.
    Profile.objects.filter(pk=anna.pk).update(visibility=Profile.Visibility.MEMBERS)
    yann = client_for(outsider.user)

    page = yann.get(f"/members/{anna.pk}/").content.decode()
    posted = _post(yann, anna)
    from_bruno = _post(client_for(bruno.user), anna)

    assert "Anna Keller takes messages only from members of the same cluster." in page
    assert "Send a message" not in page
    assert posted.status_code == 403
    assert from_bruno.status_code == 302
    assert list(ContactMessage.objects.values_list("sender", flat=True)) == [bruno.user.pk]


def test_all_members_lets_a_member_of_another_cluster_write(client_for, anna, outsider):
    Profile.objects.filter(pk=anna.pk).update(
        visibility=Profile.Visibility.MEMBERS, contact_policy=Profile.ContactPolicy.MEMBERS
    )
    yann = client_for(outsider.user)

    assert "Send a message" in yann.get(f"/members/{anna.pk}/").content.decode()
    assert _post(yann, anna).status_code == 302
    assert ContactMessage.objects.get().sender == outsider.user


def test_a_profile_the_viewer_may_not_see_is_404_for_the_form_and_the_post(
    client_for, anna, bruno, outsider
):
    Profile.objects.filter(pk=anna.pk).update(
        visibility=Profile.Visibility.HIDDEN, contact_policy=Profile.ContactPolicy.MEMBERS
    )

    assert client_for(bruno.user).get(f"/members/{anna.pk}/contact/").status_code == 404
    assert _post(client_for(bruno.user), anna).status_code == 404
    # A profile only for Anna's cluster is not Yann's to see, whatever the policy.
    Profile.objects.filter(pk=anna.pk).update(visibility=Profile.Visibility.CLUSTER)
    assert _post(client_for(outsider.user), anna).status_code == 404
    assert client_for().get(f"/members/{anna.pk}/contact/").status_code == 302  # to sign in
    assert not ContactMessage.objects.exists()


def test_the_service_refuses_what_the_page_refuses(anna, bruno, outsider):
    Profile.objects.filter(pk=anna.pk).update(visibility=Profile.Visibility.HIDDEN)
    anna.refresh_from_db()

    with pytest.raises(ValidationError) as hidden:
        _send(bruno, anna)
    with pytest.raises(ValidationError) as own:
        _send(anna, anna)

    assert hidden.value.code == contact.NOT_VISIBLE
    assert own.value.code == contact.SELF
    assert not ContactMessage.objects.exists()


def test_the_choice_is_made_on_the_profile_form(client_for, anna):
    client = client_for(anna.user)
    page = client.get("/me/edit/").content.decode()
    data = {
        "display_name": "Anna Keller",
        "timezone": anna.timezone,
        "mentoring_stance": anna.mentoring_stance,
        "visibility": anna.visibility,
        "contact_policy": "nobody",
    }

    response = client.post("/me/edit/", data)

    assert "Who may send me messages through the site" in page
    assert response.status_code == 302
    anna.refresh_from_db()
    assert anna.contact_policy == Profile.ContactPolicy.NOBODY
    # A form without the field (an older page) leaves the choice as it was.
    del data["contact_policy"]
    assert client.post("/me/edit/", data).status_code == 302
    anna.refresh_from_db()
    assert anna.contact_policy == Profile.ContactPolicy.NOBODY


# --- the rate limit ------------------------------------------------------------------------


def test_the_hourly_limit_refuses_the_next_message_and_writes_nothing(
    client_for, settings, anna, bruno
):
    settings.CONTACT_MESSAGES_PER_HOUR = 2
    client = client_for(bruno.user)

    answers = [_post(client, anna).status_code for _ in range(3)]
    refused = _post(client, anna)

    assert answers == [302, 302, 429]
    assert refused.status_code == 429
    assert "2 messages in the last hour" in refused.content.decode()
    assert ContactMessage.objects.count() == 2
    assert OutboxMessage.objects.filter(kind="members.contact").count() == 2


def test_the_daily_limit_counts_the_last_24_hours(settings, anna, bruno):
    settings.CONTACT_MESSAGES_PER_HOUR = 5
    settings.CONTACT_MESSAGES_PER_DAY = 3
    now = timezone.now()
    for hours in (2, 5, 30):  # two in the last day, one the day before
        ContactMessage.objects.create(
            sender=bruno.user, recipient=anna.user, subject="Old", body="Old",
            created_at=now - timedelta(hours=hours),
        )  # fmt: skip

    _send(bruno, anna)
    with pytest.raises(ValidationError) as refused:
        _send(bruno, anna)

    assert refused.value.code == "rate_limited"
    assert "24 hours" in refused.value.messages[0]
    assert ContactMessage.objects.count() == 4


@pytest.mark.django_db(transaction=True)
def test_parallel_posts_cannot_pass_the_limit_on_postgresql(settings, anna, bruno, outsider):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; run with DATABASE_URL=postgres://…")
    settings.CONTACT_MESSAGES_PER_HOUR = 3
    Profile.objects.filter(pk=anna.pk).update(contact_policy=Profile.ContactPolicy.MEMBERS)
    anna.refresh_from_db()

    results, errors = run_together([lambda: _send(bruno, anna) for _ in range(8)])

    assert len(results) == 3
    assert len(errors) == 5
    assert {getattr(e, "code", None) for e in errors} == {"rate_limited"}
    assert ContactMessage.objects.filter(sender=bruno.user).count() == 3


# --- reports, blocks and organisers ----------------------------------------------------


@pytest.fixture
def reported(anna, bruno, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        message = _send(bruno, anna, subject="Buy now", body="Cheap cobots!")
    return message


def test_the_report_link_in_the_mail_works_only_for_the_recipient(
    client_for, reported, anna, bruno, organiser, staff
):
    path = _report_path(_mail_to(ANNA))

    assert client_for().get(path).status_code == 302  # to sign in first
    assert client_for(bruno.user).get(path).status_code == 404
    assert client_for(organiser).get(path).status_code == 404
    assert client_for(staff).get(path).status_code == 404
    assert client_for(bruno.user).post(path, {"reason": "spam"}).status_code == 404
    assert client_for(anna.user).get(path[:-3] + "xx/").status_code == 404
    page = client_for(anna.user).get(path)
    assert page.status_code == 200 and "Cheap cobots!" in page.content.decode()
    assert page["Referrer-Policy"] == "no-referrer"
    assert not ContactReport.objects.exists()


def test_a_report_blocks_further_messages_from_that_sender(client_for, reported, anna, bruno):
    path = _report_path(_mail_to(ANNA))

    answer = client_for(anna.user).post(path, {"reason": "spam", "details": "Third time."})

    assert answer.status_code == 200
    assert "You reported this message." in answer.content.decode()
    report = ContactReport.objects.get()
    assert (report.reporter, report.sender, report.reason) == (anna.user, bruno.user, "spam")
    page = client_for(bruno.user).get(f"/members/{anna.pk}/").content.decode()
    # Bruno is told what "nobody" would tell him, not that he was reported.
    assert "Anna Keller does not take messages." in page and "Send a message" not in page
    assert _post(client_for(bruno.user), anna).status_code == 403
    assert ContactMessage.objects.count() == 1
    # Reporting twice keeps the first report.
    client_for(anna.user).post(path, {"reason": "harassment"})
    assert ContactReport.objects.get().reason == "spam"


def test_reporting_a_message_twice_keeps_one_report(reported, anna):
    first = contact.contact_report(message=reported, by=anna.user, reason="spam")
    second = contact.contact_report(message=reported, by=anna.user, reason="other")

    assert second.pk == first.pk
    assert ContactReport.objects.filter(message=reported).count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_double_click_on_report_makes_one_report_on_postgresql(anna, bruno):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; run with DATABASE_URL=postgres://…")
    message = _send(bruno, anna, subject="Buy now", body="Cheap cobots!")

    results, errors = run_together(
        [
            lambda: contact.contact_report(message=message, by=anna.user, reason="spam")
            for _ in range(4)
        ]
    )

    assert errors == []
    assert len({report.pk for report in results}) == 1
    assert ContactReport.objects.filter(message=message).count() == 1


def test_a_report_needs_a_reason(client_for, reported, anna):
    answer = client_for(anna.user).post(_report_path(_mail_to(ANNA)), {"reason": ""})

    assert answer.status_code == 400
    assert not ContactReport.objects.exists()


def test_organisers_of_the_senders_cluster_see_the_report_others_do_not(
    client_for, reported, anna, bruno, cluster, other_cluster, organiser, staff, outsider
):
    contact.contact_report(message=reported, by=anna.user, reason="spam", details="Again.")
    other_organiser = ProfileFactory(display_name="Pierre Organiser").user
    ClusterOrganiserFactory(cluster=other_cluster, user=other_organiser)
    url = f"/clusters/{cluster.slug}/manage/contact-reports/"

    seen = client_for(organiser).get(url)
    by_staff = client_for(staff).get(url)
    own_cluster = client_for(other_organiser).get(
        f"/clusters/{other_cluster.slug}/manage/contact-reports/"
    )

    assert seen.status_code == 200
    assert "Cheap cobots!" in seen.content.decode() and "Bruno Weiss" in seen.content.decode()
    assert ANNA not in seen.content.decode() and BRUNO not in seen.content.decode()
    assert by_staff.status_code == 200 and "Cheap cobots!" in by_staff.content.decode()
    assert client_for(other_organiser).get(url).status_code == 404
    assert client_for(bruno.user).get(url).status_code == 404
    assert client_for(anna.user).get(url).status_code == 404
    assert own_cluster.status_code == 200 and "Cheap cobots!" not in own_cluster.content.decode()
    assert "No message from a member of this cluster" in own_cluster.content.decode()


def test_an_organiser_marks_handled_and_suspends_the_sender(
    client_for, reported, anna, bruno, cluster, organiser, other_organisation
):
    report = contact.contact_report(message=reported, by=anna.user, reason="harassment")
    carla = ProfileFactory(display_name="Carla Rossi", organisation=anna.organisation,
                           contact_policy=Profile.ContactPolicy.MEMBERS)  # fmt: skip
    url = f"/clusters/{cluster.slug}/manage/contact-reports/"
    client = client_for(organiser)

    handled = client.post(url, {"action": "handle", "report": report.pk})
    suspended = client.post(url, {"action": "suspend", "report": report.pk})

    assert handled.status_code == suspended.status_code == 302
    report.refresh_from_db()
    assert report.handled_by == organiser and report.handled_at is not None
    bruno.refresh_from_db()
    assert bruno.contact_suspended_at is not None
    assert _post(client_for(bruno.user), carla).status_code == 403
    assert (
        "suspended your messages"
        in client_for(bruno.user).get(f"/members/{carla.pk}/").content.decode()
    )
    client.post(url, {"action": "unsuspend", "report": report.pk})
    assert _post(client_for(bruno.user), carla).status_code == 302


def test_an_organiser_of_another_cluster_cannot_act_on_the_report(
    reported, anna, bruno, other_cluster
):
    report = contact.contact_report(message=reported, by=anna.user, reason="spam")
    stranger = ProfileFactory().user
    ClusterOrganiserFactory(cluster=other_cluster, user=stranger)

    with pytest.raises(PermissionDenied):
        contact.contact_report_handle(report=report, by=stranger)
    with pytest.raises(PermissionDenied):
        contact.contact_suspend(sender=bruno.user, by=stranger)
    with pytest.raises(PermissionDenied):
        contact.contact_report(message=reported, by=bruno.user, reason="spam")


def test_staff_see_reports_with_the_message_and_messages_without_it_in_the_admin(
    client_for, reported, anna, staff
):
    report = contact.contact_report(message=reported, by=anna.user, reason="spam")
    client = client_for(staff)

    message_page = client.get(f"/admin/members/contactmessage/{reported.pk}/change/")
    report_page = client.get(f"/admin/members/contactreport/{report.pk}/change/")

    assert message_page.status_code == 200 and "Cheap cobots!" not in message_page.content.decode()
    assert report_page.status_code == 200 and "Cheap cobots!" in report_page.content.decode()


# --- language, retention, personal data ----------------------------------------------------


def test_the_mail_is_in_the_recipients_language_and_the_copy_in_the_senders(
    anna, bruno, django_capture_on_commit_callbacks
):
    Profile.objects.filter(pk=anna.pk).update(preferred_language="de")
    Profile.objects.filter(pk=bruno.pk).update(preferred_language="fr")
    anna.refresh_from_db()

    with django_capture_on_commit_callbacks(execute=True):
        _send(bruno, anna)

    to_anna = _mail_to(ANNA)
    copy = _mail_to(BRUNO, kind="members.contact_copy")
    assert 'lang="de"' in to_anna.body_html and "Hallo Anna Keller," in to_anna.body_text
    assert 'lang="fr"' in copy.body_html and "Bonjour Bruno Weiss," in copy.body_text


def test_message_text_is_deleted_after_the_retention_unless_a_report_is_open(
    settings, anna, bruno, reported, staff
):
    settings.CONTACT_MESSAGE_RETENTION_DAYS = 90
    later = _send(bruno, anna, subject="Second", body="Again")
    contact.contact_report(message=later, by=anna.user, reason="spam", details="Twice.")

    purged = contact.contact_messages_purge(now=timezone.now() + timedelta(days=91))
    again = contact.contact_messages_purge(now=timezone.now() + timedelta(days=91))

    assert (purged, again) == (1, 0)
    reported.refresh_from_db()
    later.refresh_from_db()
    assert (reported.subject, reported.body) == ("", "") and reported.content_deleted_at
    assert later.body == "Again" and later.content_deleted_at is None
    contact.contact_report_handle(report=later.report, by=staff)
    assert contact.contact_messages_purge(now=timezone.now() + timedelta(days=91)) == 1
    later.refresh_from_db()
    assert later.body == "" and ContactReport.objects.get().details == ""


def test_the_data_export_lists_messages_and_reports_by_name_never_by_address(
    client_for, reported, anna, bruno
):
    contact.contact_report(message=reported, by=anna.user, reason="spam", details="Spam.")

    bruno_data = client_for(bruno.user).get("/me/data.json").json()["contact"]
    anna_data = client_for(anna.user).get("/me/data.json").json()["contact"]

    assert bruno_data["who_may_send_me_messages"] == "cluster"
    assert [(m["to"], m["message"]) for m in bruno_data["messages_sent"]] == [
        ("Anna Keller", "Cheap cobots!")
    ]
    assert bruno_data["reports_about_my_messages"][0]["reason"] == "spam"
    assert "Spam." not in str(bruno_data) and ANNA not in str(bruno_data)
    assert [m["from"] for m in anna_data["messages_received"]] == ["Bruno Weiss"]
    assert anna_data["reports_made"][0]["details"] == "Spam."
    assert BRUNO not in str(anna_data)


def test_erasing_the_sender_deletes_their_messages_and_the_reports_about_them(
    reported, anna, bruno
):
    contact.contact_report(message=reported, by=anna.user, reason="spam")

    services.account_erase(user=bruno.user)

    assert not ContactMessage.objects.exists() and not ContactReport.objects.exists()


def test_erasing_the_recipient_keeps_a_reported_message_without_her_name(anna, bruno):
    reported = _send(bruno, anna, subject="For Anna Keller", body="Dear Anna Keller, buy now.")
    _send(bruno, anna, subject="Unreported", body="Hello")
    contact.contact_report(message=reported, by=anna.user, reason="spam",
                           details="Anna Keller here: spam.")  # fmt: skip

    services.account_erase(user=anna.user)

    kept = ContactMessage.objects.get()
    assert kept.pk == reported.pk
    assert "Anna Keller" not in kept.subject + kept.body
    assert "Anna Keller" not in ContactReport.objects.get().details
    assert kept.body == "Dear a former member, buy now."


def test_the_reports_page_answers_in_the_same_number_of_queries_for_more_reports(
    client_for, anna, bruno, cluster, organiser
):
    client = client_for(organiser)
    url = f"/clusters/{cluster.slug}/manage/contact-reports/"

    def queries_with(reports: int) -> int:
        for _ in range(reports - ContactReport.objects.count()):
            sender = ProfileFactory(organisation=anna.organisation)
            message = ContactMessage.objects.create(
                sender=sender.user, recipient=anna.user, subject="Spam", body="Spam"
            )
            contact.contact_report(message=message, by=anna.user, reason="spam")
        with CaptureQueriesContext(connection) as captured:
            assert client.get(url).status_code == 200
        return len(captured)

    assert queries_with(1) == queries_with(6)
    manage = client.get(f"/clusters/{cluster.slug}/manage/").content.decode()
    assert f'href="{url}"' in manage
