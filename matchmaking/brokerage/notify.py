"""Mail about brokerage meeting requests and the meetings' calendar entries, handed to
`notifications` (written to the outbox in the caller's transaction, sent after commit).

One message per person (their language, `in_recipients_language`), never showing the
partner's address: answers go through the site, replies to the mail reach the event's
organisers. Every message is in the event's outbox batch (`events.notify.event_batch`).

Kinds (templates `notifications/email/brokerage_<kind>_subject.txt|_body.txt|_body.html`):
requested (to the recipient, with the message and a link to answer), accepted (to the
requester, with time and table once placed), declined, withdrawn, expired (to both),
cancelled, and agenda (a calendar change on its own).

Calendar. A meeting that stands in its people's calendars (accepted, placed, published)
travels as METHOD:REQUEST with its SEQUENCE; one that was published and then cancelled,
ended or taken out of its slot as METHOD:CANCEL (`agenda_ical`). Each person is told each
calendar state once: every message carrying one has the idempotency key
`brokerage.agenda:<meeting>:<participant>:<sequence>:<method>`, whichever kind it is, so
`meetings_changed` after an accepted or cancelled message adds nothing, and calling it
twice sends nothing twice.
"""

from collections.abc import Iterable

from django.conf import settings
from django.core.mail import EmailMultiAlternatives
from django.template.loader import render_to_string

from events.calendar_selectors import organisers_load
from events.notify import event_batch, organiser_reply_to
from matchmaking.brokerage import agenda_ical, selectors
from matchmaking.brokerage.models import Meeting, Participant
from members.languages import in_recipients_language
from members.models import User
from notifications.services import email_enqueue, keys_already_queued, subject_line

TEMPLATE = "notifications/email/brokerage_{kind}_{part}"


def _was_published(meeting: Meeting) -> bool:
    return meeting.published_at is not None


def calendar_key(meeting: Meeting, participant: Participant) -> str:
    method = agenda_ical.meeting_method(meeting)
    return f"brokerage.agenda:{meeting.pk}:{participant.pk}:{meeting.sequence}:{method}"


def _reachable(participant: Participant) -> bool:
    user = participant.user
    return bool(user.is_active and user.email)


@in_recipients_language(lambda **kwargs: kwargs["person"].user)
def _send_one(
    *,
    meeting: Meeting,
    kind: str,
    person: Participant,
    key: str,
    calendar: bool,
    reply_to: list[str],
    extra: dict | None = None,
) -> None:
    """One person's message about `meeting`, in their language; with `calendar`, their
    calendar entry (REQUEST or CANCEL) as an alternative part and as an attachment."""
    event = meeting.event
    partner = meeting.other(person)
    method = agenda_ical.meeting_method(meeting)
    context = {
        "kind": kind,
        "meeting": meeting,
        "event": event,
        "name": selectors.participant_name(person),
        "partner_name": selectors.participant_name(partner),
        "partner_organisation": selectors.participant_organisation(partner),
        "is_requester": person.pk == meeting.requester_id,
        "placed": meeting.slot_id is not None and meeting.status == Meeting.Status.ACCEPTED,
        "in_calendar": agenda_ical.is_in_calendar(meeting),
        "calendar": calendar,
        "calendar_cancel": calendar and method == agenda_ical.METHOD_CANCEL,
        "site_name": settings.SITE_NAME,
        "meeting_url": agenda_ical.meeting_url(meeting),
        "agenda_url": agenda_ical.agenda_url(event),
        **(extra or {}),
    }
    subject = render_to_string(TEMPLATE.format(kind=kind, part="subject.txt"), context)
    message = EmailMultiAlternatives(
        subject=subject_line(subject),
        body=render_to_string(TEMPLATE.format(kind=kind, part="body.txt"), context),
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[person.user.email],
        reply_to=reply_to,
    )
    message.attach_alternative(
        render_to_string(TEMPLATE.format(kind=kind, part="body.html"), context), "text/html"
    )
    if calendar:
        invitation = agenda_ical.meeting_invitation(meeting, person, method).decode()
        calendar_type = f"text/calendar; method={method}; charset=utf-8"
        message.attach_alternative(invitation, calendar_type)
        message.attach("meeting.ics", invitation, calendar_type)
    email_enqueue(
        message=message,
        kind=f"brokerage.{kind}",
        idempotency_key=key,
        batch=event_batch(event),
    )


def _tell(
    *,
    meeting: Meeting,
    kind: str,
    person: Participant,
    key: str,
    calendar: bool = False,
    reply_to: list[str] | None = None,
    extra: dict | None = None,
) -> None:
    if not _reachable(person):
        return
    if calendar:
        key = calendar_key(meeting, person)
    _send_one(
        meeting=meeting,
        kind=kind,
        person=person,
        key=key,
        calendar=calendar,
        reply_to=reply_to if reply_to is not None else organiser_reply_to(event=meeting.event),
        extra=extra,
    )


def _calendar_matters(meeting: Meeting) -> bool:
    """Whether the person's calendar holds (or held) this meeting: placed and published."""
    return _was_published(meeting) and (
        agenda_ical.is_in_calendar(meeting) or meeting.slot_id is not None or meeting.sequence
    )


def _agenda(meeting: Meeting, person: Participant, reply_to: list[str] | None = None) -> None:
    """The calendar change on its own (when no other message carries it)."""
    _tell(
        meeting=meeting,
        kind="agenda",
        person=person,
        key="",
        calendar=True,
        reply_to=reply_to,
    )


# --- steps of a request ------------------------------------------------------------------


def meeting_requested(*, meeting: Meeting) -> None:
    """To the recipient: who asks (name, organisation), their message, where to answer."""
    _tell(
        meeting=meeting,
        kind="requested",
        person=meeting.recipient,
        key=f"brokerage.requested:{meeting.pk}",
    )


def meeting_accepted(*, meeting: Meeting) -> None:
    """To the requester: accepted, with time and table (and the calendar entry) once
    placed; the recipient, who picked the time, gets the calendar entry on its own."""
    placed = agenda_ical.is_in_calendar(meeting)
    _tell(
        meeting=meeting,
        kind="accepted",
        person=meeting.requester,
        key=f"brokerage.accepted:{meeting.pk}",
        calendar=placed,
    )
    if placed:
        _agenda(meeting, meeting.recipient)


def meeting_declined(*, meeting: Meeting) -> None:
    _tell(
        meeting=meeting,
        kind="declined",
        person=meeting.requester,
        key=f"brokerage.declined:{meeting.pk}",
    )


def meeting_withdrawn(*, meeting: Meeting) -> None:
    _tell(
        meeting=meeting,
        kind="withdrawn",
        person=meeting.recipient,
        key=f"brokerage.withdrawn:{meeting.pk}",
    )


def meeting_expired(*, meeting: Meeting) -> None:
    """To both: nobody answered in time; the held time is free again."""
    reply_to = organiser_reply_to(event=meeting.event)
    for person in (meeting.requester, meeting.recipient):
        _tell(
            meeting=meeting,
            kind="expired",
            person=person,
            key=f"brokerage.expired:{meeting.pk}:{person.pk}",
            reply_to=reply_to,
        )


def meeting_cancelled(*, meeting: Meeting, by: User) -> None:
    """To the other side (both, when an organiser cancelled), with the CANCEL of a
    published meeting; the side who cancelled gets the CANCEL on its own."""
    reply_to = organiser_reply_to(event=meeting.event)
    calendar = _calendar_matters(meeting)
    for person in (meeting.requester, meeting.recipient):
        if person.user_id == by.pk:
            if calendar:
                _agenda(meeting, person, reply_to)
            continue
        _tell(
            meeting=meeting,
            kind="cancelled",
            person=person,
            key=f"brokerage.cancelled:{meeting.pk}:{person.pk}",
            calendar=calendar,
            reply_to=reply_to,
            extra={
                "by_organiser": by.pk not in (meeting.requester.user_id, meeting.recipient.user_id)
            },
        )


# --- calendar changes --------------------------------------------------------------------


def meetings_changed(*, meeting_ids: Iterable[int]) -> None:
    """Mail each side of each meeting its calendar change: a REQUEST (with the meeting's
    SEQUENCE) for a meeting placed or moved, a CANCEL for one cancelled or taken out of
    its slot after it was published. Meetings never published are left out.

    Call inside the transaction that changed them (or, for a published schedule, the
    task's batch: `scheduling.schedule_mail_batch`): the outbox rows commit with it and
    go out after commit. Each mail is built from the meeting as it is now. Idempotent
    per meeting, person, SEQUENCE and METHOD: keys already in the outbox are skipped
    before anything is rendered, so a repeated call costs a few queries.
    A few queries for any number of meetings (plus the outbox writes)."""
    meetings = list(selectors.meetings_with_sides().filter(pk__in=list(meeting_ids)).order_by("pk"))
    owed = [
        (meeting, person, calendar_key(meeting, person))
        for meeting in meetings
        if _calendar_matters(meeting)
        for person in (meeting.requester, meeting.recipient)
        if _reachable(person)
    ]
    queued = keys_already_queued(keys=[key for _meeting, _person, key in owed])
    owed = [item for item in owed if item[2] not in queued]
    if not owed:
        return
    events = {}
    for meeting, _person, _key in owed:
        # One instance per event: its organisers are looked up once for all its meetings.
        meeting.event = events.setdefault(meeting.event_id, meeting.event)
    organisers_load(events=events.values())
    reply_to = {pk: organiser_reply_to(event=event) for pk, event in events.items()}
    for meeting, person, key in owed:
        _send_one(
            meeting=meeting,
            kind="agenda",
            person=person,
            key=key,
            calendar=True,
            reply_to=reply_to[meeting.event_id],
        )
