"""Every write to events data: registration, waitlist, approval, attendance.

Capacity is never exceeded, under any concurrency: each registration change locks the
row that carries the capacity (the event, or the session), re-counts the seats and writes,
all in one transaction. On PostgreSQL the lock wait is bounded by `lock_timeout`; on
SQLite the IMMEDIATE transaction queues writers for the database timeout. A wait that
runs out becomes `RegistrationBusy` ("try again"), never a hang or a 500.

The lock is the limit of how many people one event can register per second, so it covers
only the seat decision and the row writes: who may register is asked before it, and the
person's message is a small outbox row rendered after commit (`events.notify`). On
PostgreSQL, a person's first registration for an event is one message to the server
(`_register_in_one_statement`), so no round trip happens under the lock. With the
`events.capacity_lock` logger at DEBUG, each hold (lock granted to commit) is logged.
"""

import contextlib
import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import NamedTuple

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db import IntegrityError, OperationalError, connection, transaction
from django.db.models import Count, Max, Q
from django.db.models.signals import post_save
from django.utils import timezone
from django.utils.translation import gettext as _

from events import fragments, ical, notify, selectors
from events.discovery import waitlist_number
from events.models import Event, Registration, Session
from members.models import User
from notifications.services import send_after_commit

logger = logging.getLogger(__name__)
lock_logger = logging.getLogger("events.capacity_lock")
Status = Registration.Status


class RegistrationError(Exception):
    """A registration request that cannot be granted; the message is for the person."""


class RegistrationBusy(RegistrationError):
    """The capacity lock could not be had in time."""


@contextmanager
def _busy_when_the_wait_runs_out(event: Event) -> Iterator[None]:
    try:
        yield
    except OperationalError as error:
        if "lock" in str(error).lower():
            logger.warning("Registration lock wait ran out for event #%s: %s", event.pk, error)
            raise RegistrationBusy(
                _("Many people are registering right now. Please try again in a moment.")
            ) from error
        raise


def _lock_timeout() -> str:
    return f"{settings.EVENTS_LOCK_TIMEOUT_MS}ms"


@contextmanager
def capacity_locked(
    *, event: Event, session: Session | None = None
) -> Iterator[tuple[Event, Session | None]]:
    """An atomic block holding the lock on the row that carries the capacity."""
    with _busy_when_the_wait_runs_out(event), transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = %s", [_lock_timeout()])
        locked_event = Event.objects.select_for_update(of=("self",)).get(pk=event.pk)
        locked_session = (
            Session.objects.select_for_update(of=("self",)).get(pk=session.pk, event=locked_event)
            if session
            else None
        )
        if lock_logger.isEnabledFor(logging.DEBUG):
            granted = time.perf_counter()
            # The first callback of the transaction: it runs once the commit has released
            # the lock, before the callbacks that send mail.
            transaction.on_commit(
                lambda: lock_logger.debug("held %.3f ms", (time.perf_counter() - granted) * 1000)
            )
        yield locked_event, locked_session


def _capacity(event: Event, session: Session | None) -> int | None:
    return session.capacity if session else event.capacity


def _has_free_seat(event: Event, session: Session | None) -> bool:
    capacity = _capacity(event, session)
    return capacity is None or selectors.seats_taken(event=event, session=session) < capacity


def _registrations_holding(event: Event, session: Session | None):
    """The registrations that share this capacity: the session's, or the event's own."""
    if session:
        return Registration.objects.filter(session=session)
    return Registration.objects.filter(event=event, session__isnull=True)


def _next_waitlist_position(event: Event, session: Session | None) -> int:
    qs = _registrations_holding(event, session)
    return (qs.aggregate(m=Max("waitlist_position"))["m"] or 0) + 1


def _seat_state(*, event: Event, session: Session | None, user: User) -> dict[str, int | None]:
    """One query under the lock: seats taken, the last waitlist position, how many wait,
    and this person's earlier registration (its id), if any."""
    return _registrations_holding(event, session).aggregate(
        taken=Count("pk", filter=Q(status__in=Registration.SEAT_STATUSES)),
        last_position=Max("waitlist_position"),
        waiting=Count("pk", filter=Q(status=Status.WAITLISTED)),
        mine=Max("pk", filter=Q(user=user)),
    )


def _check_open(*, event: Event, user: User, session: Session | None) -> None:
    """Whether the locked event (and session) take registrations from this person now."""
    now = timezone.now()
    if event.status != Event.Status.PUBLISHED:
        raise RegistrationError(
            _("Registration is closed: the event is not open for registration.")
        )
    if event.registration_opens_at and now < event.registration_opens_at:
        raise RegistrationError(_("Registration has not opened yet."))
    if event.registration_closes_at and now >= event.registration_closes_at:
        raise RegistrationError(_("Registration has closed."))
    if now >= event.ends_at:
        raise RegistrationError(_("This event is over."))
    if session is not None:
        if session.is_cancelled:
            raise RegistrationError(_("This session is cancelled."))
        if now >= session.ends_at:
            raise RegistrationError(_("This session is over."))
        if ical.is_series(event, event.sessions.all()):
            # A series' registration holds a seat in every meeting (events.ical).
            raise RegistrationError(_("Its meetings come with the registration for the series."))
        if not Registration.objects.filter(
            event=event, session__isnull=True, user=user, status__in=Registration.SEAT_STATUSES
        ).exists():
            raise RegistrationError(_("Register for the event before choosing its sessions."))
        clash = (
            Registration.objects.filter(
                event=event,
                user=user,
                session__isnull=False,
                status__in=Registration.ACTIVE_STATUSES,
                session__starts_at__lt=session.ends_at,
                session__ends_at__gt=session.starts_at,
            )
            .exclude(session=session)
            .select_related("session")
            .first()
        )
        if clash:
            raise RegistrationError(
                _("This session overlaps “%(title)s”, which you are registered for.")
                % {"title": clash.session.title}
            )


class Registered(NamedTuple):
    """What a registration request came to: the registration, whether it changed (False
    when the person was registered already), and their place in the waitlist (1 for the
    next in line) or None."""

    registration: Registration
    changed: bool
    waitlist_number: int | None


def event_register(
    *,
    event: Event,
    user: User,
    session: Session | None = None,
    scope: tuple[list[int], list[int]] | None = None,
) -> Registration:
    """Register a person for an event (or one of its sessions): confirmed, waitlisted or pending.

    Registering again while registered returns the existing registration unchanged.
    `scope` is `selectors.viewer_scope(user=user)` when the caller already has it.
    """
    return event_register_outcome(event=event, user=user, session=session, scope=scope).registration


def event_register_outcome(
    *,
    event: Event,
    user: User,
    session: Session | None = None,
    scope: tuple[list[int], list[int]] | None = None,
    visible: bool = False,
) -> Registered:
    """`event_register`, and what it came to. `visible=True` says the caller has just
    found `event` among `selectors.events_visible_to(user=user)` (the API does), so it is
    not asked again."""
    # Who may see the event is the slowest question and no seat depends on it: asked before
    # the lock. Its status and dates are checked again on the locked row (`_check_open`).
    visible = (
        visible or selectors.events_visible_to(user=user, scope=scope).filter(pk=event.pk).exists()
    )
    try:
        if visible and session is None and connection.vendor == "postgresql":
            registered = _register_in_one_statement(event=event, user=user)
            if registered is not None:
                return registered
        with capacity_locked(event=event, session=session) as (event, session):
            # Each round trip under the lock is time the next person waits: one query
            # decides the seat (and finds an earlier registration of this person).
            seats = _seat_state(event=event, session=session, user=user)
            existing = (
                Registration.objects.select_for_update(of=("self",)).get(pk=seats["mine"])
                if seats["mine"] is not None
                else None
            )
            if existing and existing.status in Registration.ACTIVE_STATUSES:
                return Registered(existing, False, waitlist_number(registration=existing))
            if not visible:
                raise RegistrationError(_("This event is not open to you."))
            _check_open(event=event, user=user, session=session)
            capacity = _capacity(event, session)
            if event.approval_required and session is None:
                status = Status.PENDING
            elif capacity is None or seats["taken"] < capacity:
                status = Status.CONFIRMED
            else:
                status = Status.WAITLISTED
            waitlisted = status == Status.WAITLISTED
            # At the end of the queue: behind everyone waiting (`discovery.waitlist_number`).
            position = (seats["last_position"] or 0) + 1 if waitlisted else None
            if existing:
                existing.status = status
                existing.waitlist_position = position
                existing.sequence += 1
                existing.checked_in_at = None
                existing.save(
                    update_fields=[
                        "status",
                        "waitlist_position",
                        "sequence",
                        "checked_in_at",
                        "updated_at",
                    ]
                )
                registration = existing
            else:
                registration = Registration.objects.create(
                    event=event,
                    session=session,
                    user=user,
                    status=status,
                    waitlist_position=position,
                )
            notify.registration_changed(
                registration=registration,
                queue_number=seats["waiting"] + 1 if waitlisted else None,
            )
            return Registered(registration, True, seats["waiting"] + 1 if waitlisted else None)
    except IntegrityError as error:
        # Only reachable if the lock was bypassed; the constraint still holds the line.
        raise RegistrationError(_("You are already registered.")) from error


def _register_in_one_statement(*, event: Event, user: User) -> Registered | None:
    """A person's first registration for an event itself, on PostgreSQL, in one round trip.

    One message to the server locks the event, decides the seat, writes the registration
    and its outbox row, and (outside a transaction) commits. The lock is held only while
    the server runs those statements: in the general path, the holder also waits for its
    turn on the CPU and the GIL after each of its round trips, and everyone waits with it.
    Each statement reads the rows committed before it began, so the decision, made after
    the lock is granted, sees every earlier holder's registration.

    Returns None, having written nothing, unless it is that plain case: the person has no
    registration for the event yet, and the event, as it stands locked, is published, takes
    registrations now and needs no approval. The general path then decides and says why.
    """
    now = timezone.now()
    quote = connection.ops.quote_name
    events, registrations = quote(Event._meta.db_table), quote(Registration._meta.db_table)
    fields = [field for field in Registration._meta.concrete_fields if not field.primary_key]
    new = Registration(event=event, user=user, status=Status.CONFIRMED, created_at=now,
                       updated_at=now)  # fmt: skip
    slots = {
        "status": "CASE WHEN decision.waits THEN %s ELSE %s END",
        "waitlist_position": "CASE WHEN decision.waits THEN decision.last_position + 1 END",
    }
    expressions, values = [], []
    for field in fields:
        if field.column in slots:
            expressions.append(slots[field.column])
        else:
            expressions.append("%s")
            values.append(field.get_db_prep_save(getattr(new, field.attname), connection))
        if field.column == "status":
            values += [Status.WAITLISTED, Status.CONFIRMED]
    columns = ", ".join(quote(field.column) for field in fields)
    returned = ", ".join(quote(field.column) for field in Registration._meta.concrete_fields)
    message_sql, message_values = notify.registration_new_sql(event=event, user=user)
    seat_statuses = ", ".join(["%s"] * len(Registration.SEAT_STATUSES))
    timed = lock_logger.isEnabledFor(logging.DEBUG)
    # Table and column names from the models' metadata; every value is a parameter.
    sql = f"""
        SET LOCAL lock_timeout = %s;
        SELECT 1 FROM {events} WHERE id = %s FOR UPDATE;
        {"SELECT clock_timestamp();" if timed else ""}
        WITH locked_event AS (
            SELECT status, sequence, capacity FROM {events}
            WHERE id = %s AND status = %s AND NOT approval_required AND ends_at > %s
              AND (registration_opens_at IS NULL OR registration_opens_at <= %s)
              AND (registration_closes_at IS NULL OR registration_closes_at > %s)
        ), seats AS (
            SELECT count(*) FILTER (WHERE status IN ({seat_statuses})) AS taken,
                   coalesce(max(waitlist_position), 0) AS last_position,
                   count(*) FILTER (WHERE status = %s) AS waiting,
                   coalesce(bool_or(user_id = %s), false) AS known
            FROM {registrations} WHERE event_id = %s AND session_id IS NULL
        ), decision AS (
            SELECT locked_event.status AS event_status, locked_event.sequence AS event_sequence,
                   waits, seats.last_position,
                   CASE WHEN waits THEN seats.waiting + 1 END AS waitlist_number
            FROM locked_event, seats,
                 LATERAL (SELECT locked_event.capacity IS NOT NULL
                                 AND seats.taken >= locked_event.capacity AS waits) AS seat
            WHERE NOT seats.known
        ), registration AS (
            INSERT INTO {registrations} ({columns}) SELECT {", ".join(expressions)} FROM decision
            RETURNING {returned}
        ), message AS ({message_sql})
        SELECT registration.*, (SELECT id FROM message), decision.waitlist_number
        FROM registration, decision
    """  # noqa: S608
    params = [
        _lock_timeout(), event.pk,
        event.pk, Event.Status.PUBLISHED, now, now, now,
        *Registration.SEAT_STATUSES, Status.WAITLISTED, user.pk, event.pk,
        *values, *message_values,
    ]  # fmt: skip
    block = transaction.atomic() if connection.in_atomic_block else contextlib.nullcontext()
    with _busy_when_the_wait_runs_out(event), block, connection.cursor() as cursor:
        cursor.execute(sql, params)
        results = []
        while True:
            results.append(cursor.fetchall() if cursor.description else None)
            if not cursor.nextset():
                break
    if not results[-1]:
        return None
    *row, message_id, number = results[-1][0]
    if timed:
        # The server's clock when the lock was granted, to this process's once committed
        # (at once outside a transaction): the same machine's clock in the benchmarks.
        granted = results[-2][0][0].timestamp()
        transaction.on_commit(
            lambda: lock_logger.debug("held %.3f ms", (time.time() - granted) * 1000)
        )
    registration = Registration.from_db(
        connection.alias, [field.attname for field in Registration._meta.concrete_fields], row
    )
    # What saving it through the ORM would have told the rest of the project (the page
    # caches of `events.fragments`).
    post_save.send(sender=Registration, instance=registration, created=True, update_fields=None,
                   raw=False, using=connection.alias)  # fmt: skip
    if message_id is not None:
        send_after_commit(ids=[message_id])
    return Registered(registration, True, number)


def _fill_from_waitlist(*, event: Event, session: Session | None) -> list[Registration]:
    """Promote waitlisted people, first in line first, while seats are free.

    The caller holds the capacity lock. Nobody is promoted into an event (or session)
    that is cancelled, unpublished or already over.
    """
    promoted: list[Registration] = []
    if event.status != Event.Status.PUBLISHED or timezone.now() >= event.ends_at:
        return promoted
    if session is not None and (session.is_cancelled or timezone.now() >= session.ends_at):
        return promoted
    for registration in selectors.waitlist(event=event, session=session):
        if not _has_free_seat(event, session):
            break
        registration.status = Status.CONFIRMED
        registration.waitlist_position = None
        registration.sequence += 1
        registration.save(update_fields=["status", "waitlist_position", "sequence", "updated_at"])
        notify.registration_changed(registration=registration, promoted=True)
        promoted.append(registration)
    return promoted


def waitlist_fill(*, event: Event, session: Session | None = None) -> list[Registration]:
    """Give free seats to the waitlist (after a cancellation or a capacity increase)."""
    with capacity_locked(event=event, session=session) as (event, session):
        return _fill_from_waitlist(event=event, session=session)


def registration_calendar_answer_record(
    *, registration: Registration, answer: str, sequence: int
) -> Registration:
    """Keep a person's Accept or Maybe from their calendar (a reply to `sequence`)."""
    if answer not in ("accepted", "tentative"):
        raise ValueError(f"not a calendar answer to keep: {answer!r}")
    registration.calendar_answer = answer
    registration.calendar_answered_at = timezone.now()
    registration.calendar_answer_sequence = sequence
    registration.save(
        update_fields=["calendar_answer", "calendar_answered_at", "calendar_answer_sequence"]
    )
    return registration


def registration_cancel(
    *, registration: Registration, by: User, notify_person: bool = True
) -> Registration:
    """Cancel a registration (by its owner or an organiser); a freed seat goes to the waitlist.

    Leaving an event leaves its sessions too, with one message for the whole event.
    """
    if by.pk != registration.user_id and not selectors.user_manages_event(
        user=by, event=registration.event
    ):
        raise PermissionDenied(_("You cannot cancel this registration."))
    with capacity_locked(event=registration.event, session=registration.session) as (
        event,
        session,
    ):
        registration = Registration.objects.select_for_update(of=("self",)).get(pk=registration.pk)
        if registration.status in (Status.CANCELLED, Status.DECLINED):
            return registration
        if (
            registration.status in (Status.ATTENDED, Status.NO_SHOW)
            or timezone.now() >= (session or event).ends_at
        ):
            # Attendance is history that reports and funders rely on.
            raise RegistrationError(_("This is over: past attendance cannot be cancelled."))
        registration.status = Status.CANCELLED
        registration.waitlist_position = None
        registration.sequence += 1
        registration.save(update_fields=["status", "waitlist_position", "sequence", "updated_at"])
        seats = []
        if session is None:
            # Leaving the event leaves its sessions too; the one message withdraws them.
            for session_registration in Registration.objects.filter(
                event=event,
                user=registration.user,
                session__isnull=False,
                session__ends_at__gt=timezone.now(),
                status__in=(Status.PENDING, Status.CONFIRMED, Status.WAITLISTED),
            ).select_related("session"):
                seat = registration_cancel(
                    registration=session_registration, by=by, notify_person=False
                )
                seat.event = event
                seats.append(seat)
        if notify_person:
            registration.event = event
            notify.registration_changed(registration=registration, seats=seats)
        _fill_from_waitlist(event=event, session=session)
        return registration


def _require_organiser(*, user: User, event: Event) -> None:
    if not selectors.user_manages_event(user=user, event=event):
        raise PermissionDenied(_("Only organisers of this event can do that."))


def registration_approve(*, registration: Registration, by: User) -> Registration:
    _require_organiser(user=by, event=registration.event)
    with capacity_locked(event=registration.event, session=registration.session) as (
        event,
        session,
    ):
        registration = Registration.objects.select_for_update(of=("self",)).get(pk=registration.pk)
        if registration.status != Status.PENDING:
            raise RegistrationError(_("Only pending registrations can be approved."))
        if _has_free_seat(event, session):
            registration.status = Status.CONFIRMED
        else:
            registration.status = Status.WAITLISTED
            registration.waitlist_position = _next_waitlist_position(event, session)
        registration.sequence += 1
        registration.save(update_fields=["status", "waitlist_position", "sequence", "updated_at"])
        notify.registration_changed(registration=registration, approved=True)
        return registration


def registration_decline(*, registration: Registration, by: User) -> Registration:
    _require_organiser(user=by, event=registration.event)
    with capacity_locked(event=registration.event, session=registration.session):
        registration = Registration.objects.select_for_update(of=("self",)).get(pk=registration.pk)
        if registration.status != Status.PENDING:
            raise RegistrationError(_("Only pending registrations can be declined."))
        registration.status = Status.DECLINED
        registration.sequence += 1
        registration.save(update_fields=["status", "sequence", "updated_at"])
        notify.registration_changed(registration=registration)
        return registration


def waitlist_promote(*, registration: Registration, by: User) -> Registration:
    """An organiser moves one person from the waitlist to a free seat, out of turn."""
    _require_organiser(user=by, event=registration.event)
    with capacity_locked(event=registration.event, session=registration.session) as (
        event,
        session,
    ):
        registration = Registration.objects.select_for_update(of=("self",)).get(pk=registration.pk)
        if registration.status != Status.WAITLISTED:
            raise RegistrationError(_("This person is not on the waitlist."))
        if not _has_free_seat(event, session):
            raise RegistrationError(
                _("The event is full: raise the capacity or cancel a seat first.")
            )
        registration.status = Status.CONFIRMED
        registration.waitlist_position = None
        registration.sequence += 1
        registration.save(update_fields=["status", "waitlist_position", "sequence", "updated_at"])
        notify.registration_changed(registration=registration, promoted=True)
        return registration


def waitlist_move(*, registration: Registration, position: int, by: User) -> None:
    """Put a waitlisted person at `position` (1 = next in line) and renumber the others."""
    _require_organiser(user=by, event=registration.event)
    with capacity_locked(event=registration.event, session=registration.session) as (
        event,
        session,
    ):
        queue = list(
            selectors.waitlist(event=event, session=session).select_for_update(of=("self",))
        )
        current = next((r for r in queue if r.pk == registration.pk), None)
        if current is None:
            raise RegistrationError(_("This person is not on the waitlist."))
        queue.remove(current)
        queue.insert(max(0, min(position - 1, len(queue))), current)
        for index, item in enumerate(queue, start=1):
            if item.waitlist_position != index:
                item.waitlist_position = index
                item.save(update_fields=["waitlist_position", "updated_at"])


def attendance_mark(*, registration: Registration, by: User, attended: bool = True) -> Registration:
    _require_organiser(user=by, event=registration.event)
    with transaction.atomic():
        registration = (
            Registration.objects.select_for_update(of=("self",))
            .select_related("event")
            .get(pk=registration.pk)
        )
        if registration.event.status == Event.Status.CANCELLED:
            raise RegistrationError(_("This event is cancelled."))
        if registration.status not in (Status.CONFIRMED, Status.ATTENDED, Status.NO_SHOW):
            raise RegistrationError(_("Only confirmed participants can be checked in."))
        registration.status = Status.ATTENDED if attended else Status.CONFIRMED
        registration.checked_in_at = timezone.now() if attended else None
        registration.save(update_fields=["status", "checked_in_at", "updated_at"])
        return registration


def attendance_close(*, event: Event) -> int:
    """After the event, confirmed registrations nobody checked in become no-shows."""
    if timezone.now() < event.ends_at:
        raise RegistrationError(_("The event has not ended yet."))
    with transaction.atomic():
        closed = Registration.objects.filter(event=event, status=Status.CONFIRMED).update(
            status=Status.NO_SHOW, updated_at=timezone.now()
        )
        fragments.event_changed(event_ids=[event.pk])  # .update() sends no signal
    return closed
