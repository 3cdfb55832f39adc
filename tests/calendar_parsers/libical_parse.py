"""libical (Evolution, GNOME Calendar) reading a calendar file, through PyGObject.

Run with the system Python, which has Debian's python3-gi and gir1.2-ical-3.0:

    /usr/bin/python3 libical_parse.py < file.ics            one calendar in, JSON out
    /usr/bin/python3 libical_parse.py --batch < list.json   a JSON array of calendars in

Prints the shape parse.mjs prints (per VEVENT: uid, sequence, status, method, summary,
organizer, recurrence_id, dtstart, dtend as UTC instants, occurrences), plus per calendar
`restrictions`: libical's RFC 5546 restriction check for the file's METHOD (ok, and the
X-LIC-ERROR lines it added). Times are read through the file's own VTIMEZONE, looked up
by TZID in the calendar; a TZID the file does not define is reported, never guessed.
"""

import json
import sys
from datetime import UTC, datetime, timedelta

import gi

gi.require_version("ICalGLib", "3.0")
from gi.repository import ICalGLib  # noqa: E402

MAX_OCCURRENCES = 50
P = ICalGLib.PropertyKind
UTC_ZONE = ICalGLib.Timezone.get_utc_timezone()


def lic_errors(component: ICalGLib.Component) -> list[str]:
    """The X-LIC-ERROR properties libical put into a component and its children."""
    errors = []
    prop = component.get_first_property(P.XLICERROR_PROPERTY)
    while prop is not None:
        errors.append(f"{component.kind_to_string(component.isa())}: {prop.get_xlicerror()}")
        prop = component.get_next_property(P.XLICERROR_PROPERTY)
    child = component.get_first_component(ICalGLib.ComponentKind.ANY_COMPONENT)
    while child is not None:
        errors += lic_errors(child)
        child = component.get_next_component(ICalGLib.ComponentKind.ANY_COMPONENT)
    return errors


def iso(time: ICalGLib.Time) -> str:
    moment = datetime(
        time.get_year(),
        time.get_month(),
        time.get_day(),
        time.get_hour(),
        time.get_minute(),
        time.get_second(),
        tzinfo=UTC,
    )
    return moment.isoformat().replace("+00:00", "Z")


def zoned(calendar, prop, time: ICalGLib.Time, what: str, errors: list[str]) -> ICalGLib.Time:
    """`time` (the value of `prop`) placed in the zone its TZID names in this file."""
    if time.is_utc() or time.is_date():
        return time
    param = prop.get_first_parameter(ICalGLib.ParameterKind.TZID_PARAMETER)
    if param is None:
        errors.append(f"{what} is floating (no TZID, not UTC)")
        return time
    tzid = param.get_tzid()
    zone = calendar.get_timezone(tzid)
    if zone is None:
        errors.append(f"{what} names TZID {tzid!r}, which the file does not define")
        return time
    time.set_timezone(zone)
    return time


def utc(time: ICalGLib.Time) -> str:
    return iso(time.convert_to_zone(UTC_ZONE))


TIME_GETTERS = {
    P.DTSTART_PROPERTY: "get_dtstart",
    P.DTEND_PROPERTY: "get_dtend",
    P.RECURRENCEID_PROPERTY: "get_recurrenceid",
}


def prop_time(calendar, vevent, kind, what, errors) -> ICalGLib.Time | None:
    prop = vevent.get_first_property(kind)
    if prop is None:
        return None
    return zoned(calendar, prop, getattr(prop, TIME_GETTERS[kind])(), what, errors)


def text(vevent, kind) -> str | None:
    prop = vevent.get_first_property(kind)
    return None if prop is None else prop.get_value_as_string()


def occurrences(calendar, vevent, start, duration, errors) -> list[dict]:
    """The recurrence set (RRULE, RDATE, minus EXDATE), at most MAX_OCCURRENCES."""
    starts: list[datetime] = []
    prop = vevent.get_first_property(P.RRULE_PROPERTY)
    while prop is not None:
        iterator = ICalGLib.RecurIterator.new(prop.get_rrule(), start)
        moment = iterator.next()
        while not moment.is_null_time() and len(starts) < MAX_OCCURRENCES:
            moment.set_timezone(start.get_timezone())
            starts.append(datetime.fromisoformat(utc(moment)))
            moment = iterator.next()
        prop = vevent.get_next_property(P.RRULE_PROPERTY)
    prop = vevent.get_first_property(P.RDATE_PROPERTY)
    while prop is not None:
        value = prop.get_rdate()
        time = value.get_time()
        if time.is_null_time():  # an RDATE period
            time = value.get_period().get_start()
        starts.append(datetime.fromisoformat(utc(zoned(calendar, prop, time, "RDATE", errors))))
        prop = vevent.get_next_property(P.RDATE_PROPERTY)
    excluded = set()
    prop = vevent.get_first_property(P.EXDATE_PROPERTY)
    while prop is not None:
        time = zoned(calendar, prop, prop.get_exdate(), "EXDATE", errors)
        excluded.add(datetime.fromisoformat(utc(time)))
        prop = vevent.get_next_property(P.EXDATE_PROPERTY)
    first = datetime.fromisoformat(utc(start))
    kept = sorted({first, *starts} - excluded)[:MAX_OCCURRENCES]
    return [
        {"start": _z(moment), "end": _z(moment + duration) if duration is not None else None}
        for moment in kept
    ]


def _z(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def read_vevent(calendar, vevent, method: str | None) -> dict:
    errors: list[str] = []
    start = prop_time(calendar, vevent, P.DTSTART_PROPERTY, "DTSTART", errors)
    end = prop_time(calendar, vevent, P.DTEND_PROPERTY, "DTEND", errors)
    dtstart = utc(start) if start is not None else None
    dtend = utc(end) if end is not None else None
    duration_prop = vevent.get_first_property(P.DURATION_PROPERTY)
    if dtend is None and dtstart is not None and duration_prop is not None:
        seconds = duration_prop.get_duration().as_int()
        dtend = _z(datetime.fromisoformat(dtstart) + timedelta(seconds=seconds))
    recurrence_id = prop_time(calendar, vevent, P.RECURRENCEID_PROPERTY, "RECURRENCE-ID", errors)
    sequence = vevent.get_first_property(P.SEQUENCE_PROPERTY)
    recurring = any(
        vevent.get_first_property(kind) is not None for kind in (P.RRULE_PROPERTY, P.RDATE_PROPERTY)
    )
    if recurring and start is not None:
        duration = (
            datetime.fromisoformat(dtend) - datetime.fromisoformat(dtstart) if dtend else None
        )
        series = occurrences(calendar, vevent, start, duration, errors)
    else:
        series = [{"start": dtstart, "end": dtend}]
    return {
        "uid": text(vevent, P.UID_PROPERTY),
        "sequence": sequence.get_sequence() if sequence is not None else None,
        "status": text(vevent, P.STATUS_PROPERTY),
        "method": method,
        "summary": vevent.get_summary(),
        "organizer": text(vevent, P.ORGANIZER_PROPERTY),
        "recurrence_id": utc(recurrence_id) if recurrence_id is not None else None,
        "dtstart": dtstart,
        "dtend": dtend,
        "occurrences": series,
        "errors": errors,
    }


def read_calendar(source: str) -> dict:
    calendar = ICalGLib.Component.new_from_string(source)
    if calendar is None or calendar.isa() != ICalGLib.ComponentKind.VCALENDAR_COMPONENT:
        return {"method": None, "vevents": [], "errors": ["libical: no VCALENDAR"]}
    parse_errors = [f"libical: {error}" for error in lic_errors(calendar)]
    method_prop = calendar.get_first_property(P.METHOD_PROPERTY)
    method = method_prop.get_value_as_string() if method_prop is not None else None
    vevents = []
    vevent = calendar.get_first_component(ICalGLib.ComponentKind.VEVENT_COMPONENT)
    while vevent is not None:
        vevents.append(read_vevent(calendar, vevent, method))
        vevent = calendar.get_next_component(ICalGLib.ComponentKind.VEVENT_COMPONENT)
    # The check adds X-LIC-ERROR properties for what it finds; parse errors are counted above.
    before = set(lic_errors(calendar))
    passed = bool(ICalGLib.restriction_check(calendar))
    found = [error for error in lic_errors(calendar) if error not in before]
    return {
        "method": method,
        "vevents": vevents,
        "errors": parse_errors,
        "restrictions": {"ok": passed and not found, "errors": found},
    }


def main() -> None:
    source = sys.stdin.read()
    if "--batch" in sys.argv:
        output = [read_calendar(calendar) for calendar in json.loads(source)]
    else:
        output = read_calendar(source)
    sys.stdout.write(json.dumps(output))


if __name__ == "__main__":
    main()
