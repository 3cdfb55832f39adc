"""Calendar replies: a member's Accept, Maybe or Decline in Outlook, Gmail or Apple Calendar.

With `CALENDAR_REPLY_DOMAIN` set, each invitation can name a reply address of its own as
ORGANIZER, `rsvp+<registration id>-<signature>@<domain>` (`reply_address`); the calendar
client mails its iTIP REPLY there. The mail server for that domain delivers to the LMTP
receiver here (`serve`, run by `manage.py receive_calendar_replies`): a push, so no
mailbox, no polling delay and no IMAP password to keep.

A reply acts only when everything about it is right (`reply_handle`):
- it was sent to a reply address whose signature is ours, naming one registration;
- it holds a `text/calendar` part with METHOD:REPLY and exactly one VEVENT;
- that VEVENT's UID is the one the site's invitation of that registration carries now, and
  its SEQUENCE is not older than the invitation's (a Decline of an outdated entry, after
  the organisers moved the event, does not cancel the moved one);
- its ATTENDEE is the registrant: the account's address or another verified address.
Then DECLINED cancels the registration through `events.services.registration_cancel` (the
seat goes to the waitlist, the person gets the usual confirmation); ACCEPTED and TENTATIVE
are kept on the registration (`calendar_answer`, when, and for which SEQUENCE) and change
nothing else. A reply to one meeting
of a series (a circle's invitation holds one entry per meeting) is not a reply to the
whole registration and changes nothing either. Anything else is ignored and logged at
WARNING, with the reason and never an address; `reply_handle` never raises.

The receiver refuses recipients that are not reply addresses (550) and answers 250 to every
message, ignored or not, so mail servers neither bounce nor retry it; only a database that
is busy or away right now is answered 451, and the mail server delivers the reply again
later (a reply handled twice acts once: the second finds the registration cancelled).
"""

import logging
import signal
import threading
from dataclasses import dataclass
from email import message_from_bytes, policy
from enum import StrEnum

import icalendar
from allauth.account.models import EmailAddress
from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import InterfaceError, OperationalError, close_old_connections, connections

from events import ical, services
from events.models import Registration
from events.reply_addresses import is_reply_address, registration_id_of, reply_domain

logger = logging.getLogger(__name__)

_CALENDAR_TYPES = {"text/calendar", "application/ics"}
_GONE = (Registration.Status.CANCELLED, Registration.Status.DECLINED)


class ReplyAction(StrEnum):
    DECLINED = "declined"  # the registration was cancelled
    ACCEPTED = "accepted"  # kept on the registration (calendar_answer); its status stays
    TENTATIVE = "tentative"  # kept on the registration (calendar_answer); its status stays
    IGNORED = "ignored"  # not a valid reply: nothing changed
    DEFERRED = "deferred"  # the database could not be reached: deliver again later


@dataclass(frozen=True)
class ReplyOutcome:
    action: ReplyAction
    reason: str = ""
    registration_id: int | None = None


class _Ignored(Exception):
    def __init__(self, reason: str, registration_id: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.registration_id = registration_id


# --- reading a reply -------------------------------------------------------------------


def _reply_event(raw: bytes) -> icalendar.Event:
    """The one VEVENT of the first calendar part with METHOD:REPLY.

    Outlook sends the calendar as an alternative part, Gmail as an alternative part and
    as an `invite.ics` attachment (application/ics), Apple Mail as an attachment.
    """
    message = message_from_bytes(raw, policy=policy.default)
    found_calendar = False
    for part in message.walk():
        if part.get_content_type() not in _CALENDAR_TYPES:
            continue
        found_calendar = True
        try:
            content = part.get_content()
            if isinstance(content, bytes):
                content = content.decode("utf-8", errors="replace")
            calendar = icalendar.Calendar.from_ical(content)
        except Exception as error:  # noqa: BLE001 - an unreadable part is skipped, whatever broke
            logger.info("Calendar reply: a calendar part is unreadable: %s", error)
            continue
        if str(calendar.get("method", "")).upper() != "REPLY":
            continue
        vevents = calendar.walk("VEVENT")
        if len(vevents) != 1:
            raise _Ignored(f"the REPLY holds {len(vevents)} VEVENTs, not one")
        return vevents[0]
    if found_calendar:
        raise _Ignored("no readable calendar part with METHOD:REPLY")
    raise _Ignored("no calendar part")


def _addresses(vevent: icalendar.Event, name: str) -> list[icalendar.vCalAddress]:
    value = vevent.get(name)
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def _mailbox(address: icalendar.vCalAddress) -> str:
    text = str(address).strip()
    if text.lower().startswith("mailto:"):
        text = text[len("mailto:") :]
    return text.strip().lower()


def _invitation_sequences(registration: Registration) -> dict[str, int]:
    """UID → SEQUENCE of the invitation the site would send this registration now.

    Read from `events.ical.registration_invitation` itself, so the UIDs and SEQUENCEs
    compared are always the ones the site sends, however that module computes them.
    """
    method = ical.invitation_method(registration)
    if method != ical.METHOD_REQUEST:
        raise _Ignored(
            "the site withdrew this invitation (the event or session is cancelled)",
            registration.pk,
        )
    calendar = icalendar.Calendar.from_ical(ical.registration_invitation(registration, method))
    sequences: dict[str, int] = {}
    for vevent in calendar.walk("VEVENT"):
        uid = str(vevent["uid"])
        sequences[uid] = max(sequences.get(uid, 0), int(vevent.get("sequence", 0)))
    return sequences


def _registrant_addresses(registration: Registration) -> set[str]:
    user = registration.user
    verified = EmailAddress.objects.filter(user=user, verified=True).values_list("email", flat=True)
    return {user.email.lower(), *(email.lower() for email in verified)}


def _handle(*, raw: bytes, recipients: list[str]) -> ReplyOutcome:
    candidates = [address for address in recipients if is_reply_address(address)]
    if not candidates:
        raise _Ignored("not addressed to a reply address")
    registration_ids = {registration_id_of(address) for address in candidates} - {None}
    if not registration_ids:
        raise _Ignored("the reply address is not signed by this site")
    if len(registration_ids) > 1:
        raise _Ignored("addressed to the reply addresses of several registrations")
    [registration_id] = registration_ids

    vevent = _reply_event(raw)

    registration = (
        Registration.objects.select_related("event", "session", "user")
        .filter(pk=registration_id)
        .first()
    )
    if registration is None:
        raise _Ignored("the registration no longer exists", registration_id)
    if registration.status in _GONE:
        raise _Ignored(f"the registration is already {registration.status}", registration_id)

    sequences = _invitation_sequences(registration)
    uid = str(vevent.get("uid", ""))
    if uid not in sequences:
        raise _Ignored("the UID is not this registration's", registration_id)
    if len(sequences) > 1:
        raise _Ignored(
            "the reply concerns one meeting of a series; only the whole registration "
            "can be cancelled",
            registration_id,
        )
    if vevent.get("recurrence-id") is not None:
        raise _Ignored("the reply concerns one occurrence only", registration_id)
    sequence = vevent.get("sequence", 0)
    if not isinstance(sequence, int):
        raise _Ignored("the SEQUENCE is unreadable", registration_id)
    if sequence < sequences[uid]:
        raise _Ignored(
            f"stale SEQUENCE {sequence}: the invitation is at {sequences[uid]}", registration_id
        )

    own = _registrant_addresses(registration)
    attendees = [a for a in _addresses(vevent, "attendee") if _mailbox(a) in own]
    if not attendees:
        raise _Ignored("the ATTENDEE is not the registrant", registration_id)
    partstats = {str(a.params.get("PARTSTAT", "")).upper() for a in attendees}
    if len(partstats) != 1:
        raise _Ignored("the registrant's PARTSTATs disagree", registration_id)
    [partstat] = partstats

    if partstat == "DECLINED":
        try:
            services.registration_cancel(registration=registration, by=registration.user)
        except services.RegistrationBusy:
            raise
        except services.RegistrationError as error:
            raise _Ignored(f"cannot cancel: {error}", registration_id) from error
        logger.info("Calendar reply: registration #%s declined and cancelled", registration_id)
        return ReplyOutcome(ReplyAction.DECLINED, "cancelled", registration_id)
    if partstat in ("ACCEPTED", "TENTATIVE"):
        services.registration_calendar_answer_record(
            registration=registration, answer=partstat.lower(), sequence=sequence
        )
        logger.info(
            "Calendar reply: registration #%s answered %s at SEQUENCE %s (%s)",
            registration_id,
            partstat,
            sequence,
            registration.status,
        )
        return ReplyOutcome(ReplyAction(partstat.lower()), "recorded", registration_id)
    raise _Ignored(f"PARTSTAT {partstat or 'missing'} is not an answer", registration_id)


def reply_handle(*, raw: bytes, recipients: list[str]) -> ReplyOutcome:
    """Act on one delivered message (its bytes and envelope recipients); never raises."""
    try:
        return _handle(raw=raw, recipients=recipients)
    except _Ignored as ignored:
        logger.warning(
            "Calendar reply ignored (registration #%s): %s",
            ignored.registration_id or "?",
            ignored.reason,
        )
        return ReplyOutcome(ReplyAction.IGNORED, ignored.reason, ignored.registration_id)
    except (services.RegistrationBusy, OperationalError, InterfaceError) as error:
        logger.warning("Calendar reply deferred, the database is busy or away: %s", error)
        return ReplyOutcome(ReplyAction.DEFERRED, str(error))
    except Exception:  # noqa: BLE001 - a reply must never take the receiver down
        logger.exception("Calendar reply ignored: handling it failed")
        return ReplyOutcome(ReplyAction.IGNORED, "handling failed")


# --- the receiver ----------------------------------------------------------------------


def _handle_in_thread(raw: bytes, recipients: list[str]) -> ReplyOutcome:
    """`reply_handle` in a worker thread, with a fresh database connection closed after."""
    close_old_connections()
    try:
        return reply_handle(raw=raw, recipients=recipients)
    finally:
        connections.close_all()


class CalendarReplyHandler:
    """aiosmtpd handler: takes reply addresses only and answers every delivered message.

    Over LMTP the answer to DATA is one line per accepted recipient (RFC 2033).
    """

    def __init__(self, *, lmtp: bool = True) -> None:
        self.lmtp = lmtp

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if not is_reply_address(address):
            return "550 5.1.1 No such reply address"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        outcome = await sync_to_async(_handle_in_thread, thread_sensitive=False)(
            raw, list(envelope.rcpt_tos)
        )
        if outcome.action == ReplyAction.DEFERRED:
            status = "451 4.3.0 Try again later"
        else:
            status = "250 2.0.0 OK"
        if not self.lmtp:
            return status
        return "\r\n".join(status for _ in envelope.rcpt_tos)


def receiver(*, host: str, port: int, smtp: bool = False):
    """An aiosmtpd Controller (not yet started) speaking LMTP, or SMTP for trying by hand."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.lmtp import LMTP
    from aiosmtpd.smtp import SMTP

    server_class = SMTP if smtp else LMTP

    class ReplyController(Controller):
        def factory(self):
            return server_class(self.handler, **self.SMTP_kwargs)

    return ReplyController(
        CalendarReplyHandler(lmtp=not smtp),
        hostname=host,
        port=port,
        server_hostname=reply_domain() or "localhost",
        ident=f"{settings.SITE_NAME} calendar replies",
    )


def serve(*, host: str, port: int, smtp: bool = False) -> None:
    """Receive replies until SIGINT or SIGTERM. A message cut off by stopping was not yet
    answered, so the mail server delivers it again."""
    mail_log = logging.getLogger("mail.log")
    if mail_log.level == logging.NOTSET:
        # aiosmtpd logs every command, members' addresses included, at INFO.
        mail_log.setLevel(logging.WARNING)
    controller = receiver(host=host, port=port, smtp=smtp)
    controller.start()
    stop = threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for signum in (signal.SIGINT, signal.SIGTERM):
            previous[signum] = signal.signal(signum, lambda *_: stop.set())
    logger.info(
        "Receiving calendar replies for @%s over %s on %s:%s",
        reply_domain(),
        "SMTP" if smtp else "LMTP",
        host,
        port,
    )
    try:
        stop.wait()
    finally:
        controller.stop()
        for signum, handler in previous.items():
            signal.signal(signum, handler)
