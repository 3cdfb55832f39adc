"""Calendar entries of brokerage meetings: one VEVENT per meeting, for one of its two sides.

Built on `events.ical` (its VTIMEZONE, text cleaning, UID host and ORGANIZER), so a
meeting reads like every other entry the site writes:

- UID `brokerage-meeting-<pk>@<host>`: stable, no personal data, the same for both sides
  and in every file (mail, agenda download), so clients update one entry.
- SEQUENCE is `meeting.sequence`, which rises when a published placement moves, is taken
  away or is cancelled (`services`); a newer DTSTAMP breaks ties, as for events.
- DTSTART/DTEND are the slot's, written in the event's zone (UTC in a repeated hour).
- SUMMARY "Meeting with <partner> (<organisation>)"; LOCATION the table (and, for an
  online room, its link: these files go only to the two people meeting) and the venue;
  DESCRIPTION the partner's organisation, the request's message and the meeting's page.
- STATUS CONFIRMED, or CANCELLED in a CANCEL; ORGANIZER as the event's entries name it.
- A message (REQUEST or CANCEL) names the person it goes to as the only ATTENDEE (iTIP
  wants one; the partner's address is never written). A download (PUBLISH) has none.

Texts are in the active language: build inside the recipient's `in_language_of`.
"""

from collections.abc import Iterable

import icalendar
from django.conf import settings
from django.urls import NoReverseMatch, reverse
from django.utils.translation import gettext as _

from events import ical
from events.calendar_selectors import organisers_load
from matchmaking.brokerage import selectors
from matchmaking.brokerage.models import Meeting, Participant

METHOD_PUBLISH = ical.METHOD_PUBLISH
METHOD_REQUEST = ical.METHOD_REQUEST
METHOD_CANCEL = ical.METHOD_CANCEL


def meeting_uid(meeting: Meeting) -> str:
    return f"brokerage-meeting-{meeting.pk}@{ical.uid_host()}"


def meeting_url(meeting: Meeting) -> str:
    """The meeting's page (the event's page until the participant pages exist)."""
    try:
        path = meeting.get_absolute_url()
    except NoReverseMatch:
        path = meeting.event.get_absolute_url()
    return settings.SITE_URL + path


def agenda_url(event) -> str:
    """The participant's agenda page of `event` (the event's page if there is none)."""
    try:
        path = reverse("brokerage:agenda", kwargs={"slug": event.slug})
    except NoReverseMatch:
        path = event.get_absolute_url()
    return settings.SITE_URL + path


def is_in_calendar(meeting: Meeting) -> bool:
    """Whether the meeting's entry stands in its people's calendars: accepted, placed
    and published."""
    return (
        meeting.status == Meeting.Status.ACCEPTED
        and meeting.slot_id is not None
        and meeting.published_at is not None
    )


def meeting_method(meeting: Meeting) -> str:
    """REQUEST while the meeting stands in the calendars; CANCEL once it does not."""
    return METHOD_REQUEST if is_in_calendar(meeting) else METHOD_CANCEL


def summary(meeting: Meeting, participant: Participant) -> str:
    partner = meeting.other(participant)
    name = ical.one_line(selectors.participant_name(partner))
    organisation = ical.one_line(selectors.participant_organisation(partner))
    if organisation:
        return _("Meeting with %(name)s (%(organisation)s)") % {
            "name": name,
            "organisation": organisation,
        }
    return _("Meeting with %(name)s") % {"name": name}


def location(meeting: Meeting) -> str:
    """The table or online room (with its link) and the venue."""
    event = meeting.event
    parts = []
    if meeting.table_id is not None:
        table = ical.one_line(meeting.table.name)
        if meeting.table.online_url:
            table = f"{table}: {ical.one_line(meeting.table.online_url)}"
        parts.append(table)
    if meeting.table_id is None or not meeting.table.online_url:
        parts.append(ical.one_line(event.venue_name))
        parts.extend(
            ical.one_line(line) for line in ical.multi_line(event.venue_address).split("\n")
        )
    return ", ".join(part for part in parts if part)


def description(meeting: Meeting, participant: Participant) -> str:
    partner = meeting.other(participant)
    parts = []
    organisation = ical.one_line(selectors.participant_organisation(partner))
    if organisation:
        parts.append(_("Organisation: %(organisation)s") % {"organisation": organisation})
    message = ical.multi_line(meeting.message)
    if message:
        parts.append(_("Request: %(message)s") % {"message": message})
    parts.append(ical.one_line(meeting.event.title))
    parts.append(meeting_url(meeting))
    return "\n\n".join(parts)


def _attendee(participant: Participant) -> icalendar.vCalAddress:
    attendee = icalendar.vCalAddress(f"mailto:{participant.user.email}")
    name = ical.cn_param(selectors.participant_name(participant))
    if name:
        attendee.params["CN"] = name
    attendee.params["ROLE"] = "REQ-PARTICIPANT"
    attendee.params["PARTSTAT"] = "ACCEPTED"
    attendee.params["RSVP"] = "FALSE"  # answers go through the site, not the calendar
    return attendee


def _vevent(file, meeting: Meeting, participant: Participant, *, method: str) -> icalendar.Event:
    event = meeting.event
    vevent = icalendar.Event()
    vevent.add("uid", meeting_uid(meeting))
    vevent.add("summary", summary(meeting, participant))
    if meeting.slot_id is not None:
        vevent.add("dtstart", file.time(meeting.slot.starts_at, event.timezone))
        vevent.add("dtend", file.time(meeting.slot.ends_at, event.timezone))
    vevent.add("sequence", meeting.sequence)
    vevent.add("dtstamp", file.stamp)
    vevent.add("last-modified", meeting.updated_at)
    vevent.add("status", "CANCELLED" if method == METHOD_CANCEL else "CONFIRMED")
    vevent.add("organizer", ical.event_organizer(event))
    if method != METHOD_PUBLISH:
        vevent.add("attendee", _attendee(participant))
    vevent.add("url", meeting_url(meeting))
    vevent.add("description", description(meeting, participant))
    place = location(meeting)
    if place:
        vevent.add("location", place)
    return vevent


def meeting_invitation(
    meeting: Meeting, participant: Participant, method: str | None = None
) -> bytes:
    """One side's iTIP message about the meeting: REQUEST while it stands (placed,
    published), CANCEL once cancelled, ended or taken out of its slot. Load the meeting
    with `selectors.meetings_with_sides()`."""
    method = method or meeting_method(meeting)
    file = ical.calendar_file(method=method)
    file.add(_vevent(file, meeting, participant, method=method))
    return file.to_ical()


def agenda_calendar(
    *, participant: Participant, meetings: Iterable[Meeting] | None = None
) -> bytes:
    """The person's published meetings as a file to download (METHOD:PUBLISH).

    `meetings` defaults to `selectors.agenda_for(participant=participant)`."""
    if meetings is None:
        meetings = selectors.agenda_for(participant=participant)
    meetings = list(meetings)
    organisers_load(events=[meeting.event for meeting in meetings])
    event = participant.event
    name = _("%(event)s: my meetings") % {"event": event.title}
    file = ical.calendar_file(method=METHOD_PUBLISH, name=name)
    for meeting in meetings:
        file.add(_vevent(file, meeting, participant, method=METHOD_PUBLISH))
    return file.to_ical()
