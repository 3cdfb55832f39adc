"""Every write an organiser makes to an event: create, edit, publish, duplicate, cancel,
sessions, people on stage, invitations and attendance imports.

Registration writes stay in `events.services`; these functions call them where a change
of the event moves seats (a capacity increase fills the waitlist). Every function checks
that `by` manages the event, validates with messages meant for the organiser, and runs in
one transaction. `sequence` (iCalendar SEQUENCE) rises on every change of time, place or
status, so calendar clients replace what they hold.

In a series (`events.ical.is_series`: a circle's meetings, a training's dates) the
meetings are what people hold in their calendars: moving, adding or cancelling one
meeting mails every registered person that meeting's entry only, and the span of the
series (the event's own start and end) is no calendar entry at all.

Titles, names and places are one line without control characters; descriptions and
addresses may have line breaks but no other control characters (`text_errors`).
"""

import re
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.core.exceptions import PermissionDenied, ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models import Q, prefetch_related_objects
from django.utils import dateformat, timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from events import ical, notify, selectors, services
from events.models import Event, Invitation, Registration, Session, StageRole
from members.models import Cluster, GenderIdentity, Profile, Topic, User
from members.selectors import clusters_managed_by
from members.validators import LINE_BREAK_MESSAGE, NOT_ONE_LINE

Status = Registration.Status

EVENT_FIELDS = (
    "kind",
    "title",
    "summary",
    "description",
    "language",
    "timezone",
    "starts_at",
    "ends_at",
    "venue_name",
    "venue_address",
    "online_platform",
    "online_url",
    "capacity",
    "registration_opens_at",
    "registration_closes_at",
    "audience",
    "approval_required",
    "materials_url",
    "recording_url",
    "reminder_offsets",
)
EVENT_M2M_FIELDS = ("clusters", "topics")
# A change of any of these changes the calendar entry people hold.
EVENT_TIME_FIELDS = ("starts_at", "ends_at", "timezone")
EVENT_PLACE_FIELDS = ("venue_name", "venue_address", "online_platform", "online_url")

SESSION_FIELDS = (
    "kind",
    "title",
    "description",
    "track",
    "room",
    "starts_at",
    "ends_at",
    "capacity",
)
SESSION_TIME_FIELDS = ("starts_at", "ends_at")
SESSION_PLACE_FIELDS = ("room",)

# Text that is one line (titles, names, places), and text that may span lines.
EVENT_ONE_LINE_FIELDS = ("title", "summary", "venue_name", "online_platform")
EVENT_MULTI_LINE_FIELDS = ("description", "venue_address")
SESSION_ONE_LINE_FIELDS = ("title", "track", "room")
SESSION_MULTI_LINE_FIELDS = ("description",)
# What one line may not hold, and the message, are the model validator's (members.validators).
_NOT_MULTI_LINE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u2028\u2029]")
CONTROL_MESSAGE = gettext_lazy("Remove the invisible control characters from the text.")

# Slugs that would shadow the fixed routes under /events/.
RESERVED_SLUGS = {
    "new",
    "balance",
    "mine",
    "my",
    "feed",
    "feeds",
    "calendar",
    "api",
    "cluster",
    "clusters",
    "me",
    "rsvp",
}

GUEST_GENDERS = (
    GenderIdentity.Gender.WOMAN,
    GenderIdentity.Gender.MAN,
    GenderIdentity.Gender.NON_BINARY,
    GenderIdentity.Gender.UNDISCLOSED,
)


# --- helpers ---------------------------------------------------------------------------


def _require_manager(*, user: User, event: Event) -> None:
    if not selectors.user_manages_event(user=user, event=event):
        raise PermissionDenied(_("Only organisers of this event can do that."))


def _local(value: datetime, zone: str) -> str:
    # "05 Mar 2026 14:00", with the month in the active language.
    return dateformat.format(timezone.localtime(value, zoneinfo.ZoneInfo(zone)), "d M Y H:i")


def text_error(value: Any, *, multi_line: bool = False) -> str | None:
    """Why `value` cannot be stored as it is (a message for the organiser), or None."""
    if not isinstance(value, str):
        return None
    if multi_line:
        return CONTROL_MESSAGE if _NOT_MULTI_LINE.search(value) else None
    return LINE_BREAK_MESSAGE if NOT_ONE_LINE.search(value) else None


def text_errors(
    obj: Any, *, one_line: Iterable[str], multi_line: Iterable[str], only: Iterable[str] | None
) -> dict[str, list[str]]:
    """{field: [message]} for the text fields of `obj` (those in `only`, if given)."""
    only = set(only) if only is not None else None
    errors = {}
    for names, multi in ((one_line, False), (multi_line, True)):
        for name in names:
            if only is not None and name not in only:
                continue
            message = text_error(getattr(obj, name, ""), multi_line=multi)
            if message:
                errors[name] = [message]
    return errors


def single_line(value: str) -> str:
    """`value` made one line (for titles built from other text, e.g. a person's name)."""
    return " ".join(NOT_ONE_LINE.sub(" ", value or "").split())


def plain_text(value: str) -> str:
    """`value` without the control characters a description may not hold."""
    return _NOT_MULTI_LINE.sub("", value or "")


def _unique_slug(base: str, *, exclude_pk: int | None = None) -> str:
    base = (slugify(base) or "event")[:100].strip("-") or "event"
    taken = Event.objects.filter(Q(slug=base) | Q(slug__startswith=f"{base}-"))
    if exclude_pk:
        taken = taken.exclude(pk=exclude_pk)
    taken_slugs = set(taken.values_list("slug", flat=True)) | RESERVED_SLUGS
    if base not in taken_slugs:
        return base
    n = 2
    while f"{base}-{n}" in taken_slugs:
        n += 1
    return f"{base}-{n}"


def _validate_event(
    *,
    event: Event,
    by: User,
    clusters: Iterable[Cluster] | None,
    creating: bool,
    changed: Iterable[str] | None = None,
) -> None:
    """Cross-field rules, with messages keyed by the form field they concern.

    Text is checked in every field when creating, in the `changed` ones when editing.
    """
    errors: dict[str, list[str]] = text_errors(
        event,
        one_line=EVENT_ONE_LINE_FIELDS,
        multi_line=EVENT_MULTI_LINE_FIELDS,
        only=None if creating else (changed or ()),
    )

    def add(key: str, message: str) -> None:
        errors.setdefault(key, []).append(message)

    try:
        zoneinfo.ZoneInfo(event.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        add("timezone", _("“%(zone)s” is not a known time zone.") % {"zone": event.timezone})
        zone_ok = False
    else:
        zone_ok = True
    if event.starts_at and event.ends_at and event.ends_at <= event.starts_at:
        add("ends_at", _("The event must end after it starts."))
    closes, opens = event.registration_closes_at, event.registration_opens_at
    if closes and event.ends_at and closes > event.ends_at:
        add("registration_closes_at", _("Registration must close before the event ends."))
    if opens and closes and closes <= opens:
        add("registration_closes_at", _("Registration must close after it opens."))
    if opens and event.ends_at and opens >= event.ends_at:
        add("registration_opens_at", _("Registration must open before the event ends."))
    if clusters is not None:
        chosen = {c.pk for c in clusters}
        managed = set(
            clusters_managed_by(user=by).filter(pk__in=chosen).values_list("pk", flat=True)
        )
        if not chosen:
            add("clusters", _("Choose at least one organising cluster."))
        elif not managed:
            add("clusters", _("At least one organising cluster must be one that you organise."))
        if not creating and not by.is_staff:
            # A co-organiser cannot lock the other clusters' organisers out of the event.
            removed = set(event.clusters.values_list("pk", flat=True)) - chosen
            if removed - set(clusters_managed_by(user=by).values_list("pk", flat=True)):
                add("clusters", _("You can only remove clusters that you organise."))
    if not creating and event.capacity is not None:
        taken = selectors.seats_taken(event=event)
        if event.capacity < taken:
            add(
                "capacity",
                _(
                    "The capacity cannot be lower than the %(taken)s seats already taken. "
                    "Cancel registrations first if the room is smaller."
                )
                % {"taken": taken},
            )
    if not creating and zone_ok and event.starts_at and event.ends_at:
        outside = (
            event.sessions.filter(is_cancelled=False)
            .filter(Q(starts_at__lt=event.starts_at) | Q(ends_at__gt=event.ends_at))
            .order_by("starts_at")
            .first()
        )
        if outside:
            add(
                "starts_at",
                _(
                    "The session “%(title)s” (%(start)s–%(end)s) would fall outside the "
                    "event. Move or cancel it first."
                )
                % {
                    "title": outside.title,
                    "start": _local(outside.starts_at, event.timezone),
                    "end": _local(outside.ends_at, event.timezone),
                },
            )
    if errors:
        raise ValidationError(errors)


def _changed(obj: Any, changes: dict[str, Any], names: Iterable[str]) -> list[str]:
    return [name for name in names if name in changes and getattr(obj, name) != changes[name]]


def _by_person(registrations: Iterable[Registration]) -> list[tuple[Registration, list]]:
    """Registrations grouped per person: (the one a message is about, the person's other
    registrations that travel with it). The event registration leads; without one, the
    person's first session registration does."""
    mine: dict[int, list[Registration]] = defaultdict(list)
    for registration in registrations:
        mine[registration.user_id].append(registration)
    grouped = []
    for held in mine.values():
        held.sort(key=lambda r: (r.session_id is not None, r.pk))
        grouped.append((held[0], held[1:]))
    return grouped


def _notify_changed(
    *,
    event: Event,
    what: list[str],
    session: Session | None = None,
    change: str = notify.CHANGE_MOVED,
    skip_users: Iterable[int] = (),
) -> int:
    """Tell everyone registered what changed; queued after commit. Returns how many.

    A change of the event: each person once, with their session seats. A change of a
    session: the people registered for it and, when it is a meeting of a series, the
    people registered for the series, with that meeting's entry only.
    """
    # Every message reads the event's sessions (a series' meetings): once, up front.
    prefetch_related_objects([event], "sessions")
    registrations = Registration.objects.filter(
        event=event, status__in=Registration.ACTIVE_STATUSES
    ).exclude(user_id__in=list(skip_users))
    if session is not None:
        in_series = session in ical.event_meetings(event)
        held = Q(session=session) | Q(session__isnull=True) if in_series else Q(session=session)
        registrations = registrations.filter(held)
    registrations = list(registrations.select_related("user__profile", "session").order_by("pk"))
    if not registrations:
        return 0
    reply_to = notify.organiser_reply_to(event=event)
    count = 0
    for registration, seats in _by_person(registrations):
        registration.event = event
        for seat in seats:
            seat.event = event
        notify.event_changed(
            registration=registration,
            event=event,
            session=session,
            change=change,
            what=what,
            reply_to=reply_to,
            seats=seats,
        )
        count += 1
    return count


# --- events ----------------------------------------------------------------------------


@transaction.atomic
def event_create(
    *,
    by: User,
    fields: dict[str, Any],
    clusters: Iterable[Cluster],
    topics: Iterable[Topic] = (),
) -> Event:
    """A new draft event of clusters the organiser runs."""
    unknown = set(fields) - set(EVENT_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    clusters = list(clusters)
    event = Event(**fields, status=Event.Status.DRAFT, created_by=by)
    event.title = (event.title or "").strip()
    _validate_event(event=event, by=by, clusters=clusters, creating=True)
    event.slug = _unique_slug(event.title)
    event.full_clean()
    event.save()
    event.clusters.set(clusters)
    event.topics.set(list(topics))
    return event


@transaction.atomic
def event_update(
    *,
    event: Event,
    by: User,
    changes: dict[str, Any],
    clusters: Iterable[Cluster] | None = None,
    topics: Iterable[Topic] | None = None,
) -> Event:
    """Edit an event. Time or place changes raise `sequence` and, once published, tell
    the registered; a larger capacity gives the new seats to the waitlist."""
    _require_manager(user=by, event=event)
    unknown = set(changes) - set(EVENT_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    # The same row lock the registration services take: seats cannot move meanwhile.
    event = Event.objects.select_for_update(of=("self",)).get(pk=event.pk)
    if event.status in (Event.Status.CANCELLED, Event.Status.COMPLETED):
        if event.status == Event.Status.CANCELLED:
            raise ValidationError(_("A cancelled event cannot be edited."))
        raise ValidationError(_("A completed event cannot be edited."))
    old_capacity = event.capacity
    # A series is its meetings: its own start and end move no calendar entry.
    time_fields = () if ical.event_meetings(event) else EVENT_TIME_FIELDS
    moved = _changed(event, changes, (*time_fields, *EVENT_PLACE_FIELDS))
    plain = _changed(event, changes, EVENT_FIELDS)
    for name in plain:
        setattr(event, name, changes[name])
    clusters = list(clusters) if clusters is not None else None
    _validate_event(event=event, by=by, clusters=clusters, creating=False, changed=plain)
    event.full_clean()
    if moved:
        event.sequence += 1
    if plain or moved:
        event.save(update_fields=[*plain, "sequence", "updated_at"])
    if clusters is not None:
        event.clusters.set(clusters)
    if topics is not None:
        event.topics.set(list(topics))
    if moved and event.status == Event.Status.PUBLISHED:
        _notify_changed(event=event, what=moved)
    if "capacity" in plain and (
        event.capacity is None or (old_capacity is not None and event.capacity > old_capacity)
    ):
        services.waitlist_fill(event=event)
    return event


@transaction.atomic
def event_publish(*, event: Event, by: User) -> Event:
    _require_manager(user=by, event=event)
    event = Event.objects.select_for_update(of=("self",)).get(pk=event.pk)
    if event.status != Event.Status.DRAFT:
        raise ValidationError(_("Only a draft can be published."))
    if event.ends_at <= timezone.now():
        raise ValidationError(_("This event is already over; change its dates before publishing."))
    event.status = Event.Status.PUBLISHED
    event.sequence += 1
    event.save(update_fields=["status", "sequence", "updated_at"])
    return event


@transaction.atomic
def event_duplicate(*, event: Event, by: User) -> Event:
    """A draft copy with the same details, clusters, topics, sessions and people on stage.

    Registrations and invitations stay with the original; guests' consented gender is not
    copied, since consent was given for the original event.
    """
    _require_manager(user=by, event=event)
    copy = Event(
        **{name: getattr(event, name) for name in EVENT_FIELDS},
        slug=_unique_slug(event.slug),
        status=Event.Status.DRAFT,
        created_by=by,
    )
    copy.save()
    copy.clusters.set(event.clusters.all())
    copy.topics.set(event.topics.all())
    session_map = {}
    for session in event.sessions.filter(is_cancelled=False):
        session_map[session.pk] = Session.objects.create(
            event=copy, **{name: getattr(session, name) for name in SESSION_FIELDS}
        )
    for role in event.stage_roles.all():
        if role.session_id and role.session_id not in session_map:
            continue
        StageRole.objects.create(
            event=copy,
            session=session_map.get(role.session_id),
            role=role.role,
            profile_id=role.profile_id,
            guest_name=role.guest_name,
            guest_organisation=role.guest_organisation,
            order=role.order,
        )
    return copy


@transaction.atomic
def event_cancel(*, event: Event, by: User) -> int:
    """Cancel the event and every active registration, telling each person.

    Returns the number of people told. Nobody is promoted from the waitlist: the waitlist
    is cancelled too.
    """
    _require_manager(user=by, event=event)
    event = Event.objects.select_for_update(of=("self",)).get(pk=event.pk)
    if event.status == Event.Status.CANCELLED:
        return 0
    if event.status == Event.Status.COMPLETED:
        raise ValidationError(_("A completed event cannot be cancelled."))
    event.status = Event.Status.CANCELLED
    event.sequence += 1
    event.save(update_fields=["status", "sequence", "updated_at"])
    registrations = list(
        Registration.objects.select_for_update(of=("self",))
        .filter(event=event, status__in=Registration.ACTIVE_STATUSES)
        .select_related("user__profile", "session")
        .order_by("session_id", "pk")
    )
    for registration in registrations:
        registration.status = Status.CANCELLED
        registration.waitlist_position = None
        registration.sequence += 1
        registration.save(update_fields=["status", "waitlist_position", "sequence", "updated_at"])
        registration.event = event
    prefetch_related_objects([event], "sessions")  # read by every message: once
    told = 0
    for registration, seats in _by_person(registrations):
        # One message per person, withdrawing the event (every meeting of a series) and
        # each session they held a seat in, also when they held only session seats.
        notify.registration_changed(registration=registration, seats=seats)
        told += 1
    return told


# --- sessions --------------------------------------------------------------------------


def _validate_session(
    *, session: Session, event: Event, creating: bool, changed: Iterable[str] | None = None
) -> None:
    errors: dict[str, list[str]] = text_errors(
        session,
        one_line=SESSION_ONE_LINE_FIELDS,
        multi_line=SESSION_MULTI_LINE_FIELDS,
        only=None if creating else (changed or ()),
    )
    if session.starts_at and session.ends_at and session.ends_at <= session.starts_at:
        errors.setdefault("ends_at", []).append(_("The session must end after it starts."))
    elif (
        session.starts_at
        and session.ends_at
        and (session.starts_at < event.starts_at or session.ends_at > event.ends_at)
    ):
        errors.setdefault("starts_at", []).append(
            _("A session must take place within the event (%(start)s – %(end)s, %(zone)s).")
            % {
                "start": _local(event.starts_at, event.timezone),
                "end": _local(event.ends_at, event.timezone),
                "zone": event.timezone,
            }
        )
    if not creating and session.capacity is not None:
        taken = selectors.seats_taken(event=event, session=session)
        if session.capacity < taken:
            errors.setdefault("capacity", []).append(
                _("The capacity cannot be lower than the %(taken)s seats already taken.")
                % {"taken": taken}
            )
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def session_create(*, event: Event, by: User, fields: dict[str, Any]) -> Session:
    _require_manager(user=by, event=event)
    unknown = set(fields) - set(SESSION_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    event = Event.objects.select_for_update(of=("self",)).get(pk=event.pk)
    if event.status == Event.Status.CANCELLED:
        raise ValidationError(_("The event is cancelled."))
    session = Session(event=event, **fields)
    _validate_session(session=session, event=event, creating=True)
    session.full_clean()
    session.save()
    if (
        event.status == Event.Status.PUBLISHED
        and session.ends_at > timezone.now()
        and session in ical.event_meetings(event)
    ):
        # A new meeting of a series: everyone registered gets its calendar entry.
        _notify_changed(event=event, what=[], session=session, change=notify.CHANGE_ADDED)
    return session


@transaction.atomic
def session_update(*, session: Session, by: User, changes: dict[str, Any]) -> Session:
    _require_manager(user=by, event=session.event)
    unknown = set(changes) - set(SESSION_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    event = Event.objects.select_for_update(of=("self",)).get(pk=session.event_id)
    session = Session.objects.select_for_update(of=("self",)).get(pk=session.pk, event=event)
    if session.is_cancelled:
        raise ValidationError(_("A cancelled session cannot be edited."))
    old_capacity = session.capacity
    moved = _changed(session, changes, (*SESSION_TIME_FIELDS, *SESSION_PLACE_FIELDS))
    plain = _changed(session, changes, SESSION_FIELDS)
    for name in plain:
        setattr(session, name, changes[name])
    _validate_session(session=session, event=event, creating=False, changed=plain)
    session.full_clean()
    if moved:
        session.sequence += 1
    if plain:
        session.save(update_fields=[*plain, "sequence", "updated_at"])
    if moved and event.status == Event.Status.PUBLISHED:
        _notify_changed(event=event, what=moved, session=session)
    if "capacity" in plain and (
        session.capacity is None or (old_capacity is not None and session.capacity > old_capacity)
    ):
        services.waitlist_fill(event=event, session=session)
    return session


@transaction.atomic
def session_cancel(*, session: Session, by: User) -> int:
    """Cancel a session and its registrations, telling each person; returns how many.

    A meeting of a series: the people registered for the series keep their registration
    and get a CANCEL of that meeting only.
    """
    _require_manager(user=by, event=session.event)
    session = (
        Session.objects.select_for_update(of=("self",)).select_related("event").get(pk=session.pk)
    )
    if session.is_cancelled:
        return 0
    event = session.event
    session.is_cancelled = True
    session.sequence += 1
    session.save(update_fields=["is_cancelled", "sequence", "updated_at"])
    told: set[int] = set()
    for registration in (
        Registration.objects.select_for_update(of=("self",))
        .filter(session=session, status__in=Registration.ACTIVE_STATUSES)
        .select_related("user__profile")
    ):
        registration.status = Status.CANCELLED
        registration.waitlist_position = None
        registration.sequence += 1
        registration.save(update_fields=["status", "waitlist_position", "sequence", "updated_at"])
        registration.event, registration.session = event, session
        notify.registration_changed(registration=registration)
        told.add(registration.user_id)
    count = len(told)
    if event.status == Event.Status.PUBLISHED and session in ical.event_meetings(event):
        count += _notify_changed(
            event=event,
            what=[],
            session=session,
            change=notify.CHANGE_CANCELLED,
            skip_users=told,
        )
    return count


# --- people on stage -------------------------------------------------------------------


@transaction.atomic
def stage_role_add(
    *,
    event: Event,
    by: User,
    role: str,
    session: Session | None = None,
    profile: Profile | None = None,
    guest_name: str = "",
    guest_organisation: str = "",
    guest_gender: str = "",
    guest_gender_consent: bool = False,
) -> StageRole:
    """A member or an external guest on stage. A guest's gender is kept only with their
    explicit consent, for panel balance statistics; a member's never (it is theirs)."""
    _require_manager(user=by, event=event)
    guest_name = guest_name.strip()
    guest_organisation = guest_organisation.strip()
    errors: dict[str, list[str]] = {}
    if role not in StageRole.Role.values:
        errors["role"] = [_("Choose a role.")]
    if session is not None and session.event_id != event.pk:
        errors["session"] = [_("This session belongs to another event.")]
    if profile is None and not guest_name:
        errors["profile"] = [_("Choose a member or enter the name of an external guest.")]
    if profile is not None and (guest_name or guest_organisation):
        errors["guest_name"] = [_("Choose a member or enter an external guest, not both.")]
    if guest_gender:
        if profile is not None:
            errors["guest_gender"] = [
                _("A member's gender is theirs to record, not the organisers'.")
            ]
        elif guest_gender not in GUEST_GENDERS:
            errors["guest_gender"] = [_("Choose one of the listed options.")]
        elif not guest_gender_consent:
            errors["guest_gender"] = [
                _(
                    "Record a guest's gender only with their consent: tick the consent box "
                    "or leave the gender empty."
                )
            ]
    if errors:
        raise ValidationError(errors)
    last = event.stage_roles.order_by("-order").values_list("order", flat=True).first()
    return StageRole.objects.create(
        event=event,
        session=session,
        role=role,
        profile=profile,
        guest_name=guest_name if profile is None else "",
        guest_organisation=guest_organisation if profile is None else "",
        guest_gender=guest_gender if guest_gender_consent else "",
        guest_gender_consent=bool(guest_gender and guest_gender_consent),
        order=(last or 0) + 1,
    )


@transaction.atomic
def stage_role_remove(*, stage_role: StageRole, by: User) -> None:
    _require_manager(user=by, event=stage_role.event)
    stage_role.delete()


# --- invitations -----------------------------------------------------------------------


@transaction.atomic
def invitation_add(*, event: Event, by: User, emails: Iterable[str]) -> list[Invitation]:
    """Invite addresses to an invitation-only event; already invited ones are skipped.

    Any invalid address refuses the whole list, so nothing is half-added.
    """
    _require_manager(user=by, event=event)
    if event.audience != Event.Audience.INVITATION:
        raise ValidationError(_("Invitations are for invitation-only events."))
    cleaned, invalid = [], []
    for raw in emails:
        email = raw.strip().lower()
        if not email:
            continue
        try:
            validate_email(email)
        except ValidationError:
            invalid.append(raw.strip())
        else:
            if email not in cleaned:
                cleaned.append(email)
    if invalid:
        raise ValidationError(
            {
                "emails": [
                    _("Not an e-mail address: %(addresses)s. Nothing was added.")
                    % {"addresses": ", ".join(invalid)}
                ]
            }
        )
    if not cleaned:
        raise ValidationError({"emails": [_("Enter at least one e-mail address.")]})
    existing = {
        e.lower() for e in Invitation.objects.filter(event=event).values_list("email", flat=True)
    }
    return [
        Invitation.objects.create(event=event, email=email)
        for email in cleaned
        if email not in existing
    ]


# --- attendance ------------------------------------------------------------------------


@dataclass
class AttendanceImportResult:
    matched: int = 0
    already_attended: int = 0
    not_confirmed: list[str] = field(default_factory=list)
    unmatched: list[Any] = field(default_factory=list)


@transaction.atomic
def attendance_import(*, event: Event, by: User, rows: Iterable[Any]) -> AttendanceImportResult:
    """Mark as attended everyone whose e-mail appears in a participant list.

    `rows` are parsed rows with an `email` attribute (see `events.attendance`). Matching
    is case-insensitive against the event registrations (not sessions). Rows nobody
    matches are returned, as are people on the list who hold no seat (waitlisted, …).
    """
    _require_manager(user=by, event=event)
    if event.status == Event.Status.CANCELLED:
        raise ValidationError(_("This event is cancelled: there is no attendance to import."))
    rows = list(rows)
    registrations = {
        r.user.email.lower(): r
        for r in Registration.objects.filter(event=event, session__isnull=True).select_related(
            "user"
        )
    }
    result = AttendanceImportResult()
    done: set[int] = set()
    for row in rows:
        registration = registrations.get((row.email or "").strip().lower())
        if registration is None:
            result.unmatched.append(row)
            continue
        if registration.pk in done:
            continue
        done.add(registration.pk)
        if registration.status == Status.ATTENDED:
            result.already_attended += 1
        elif registration.status in (Status.CONFIRMED, Status.NO_SHOW):
            services.attendance_mark(registration=registration, by=by, attended=True)
            result.matched += 1
        else:
            result.not_confirmed.append(row.email)
    return result


def attendance_close_ended() -> dict[int, int]:
    """For every ended event, confirmed registrations nobody checked in become no-shows.

    Returns {event id: registrations changed}. Safe to run again: nothing is left to do.
    """
    ended = Event.objects.filter(
        ends_at__lte=timezone.now(), registrations__status=Status.CONFIRMED
    ).distinct()
    return {event.pk: services.attendance_close(event=event) for event in ended}
