// ical.js (the parser of Thunderbird and many web calendars) reading a calendar file.
//
//   node parse.mjs < file.ics          one calendar in, one JSON object out
//   node parse.mjs --batch < list.json  a JSON array of calendars in, a JSON array out
//
// Per calendar: {method, vevents: [...], errors: [...]}; per VEVENT: uid, sequence, status,
// method, summary, organizer, recurrence_id, dtstart, dtend (UTC instants, ISO 8601) and
// occurrences (the recurrence set, at most 50, or the one occurrence). Times are converted
// with the file's own VTIMEZONEs, registered with ICAL.TimezoneService (and never with the
// machine's zone: a TZID the file does not define is reported as an error).
import ICAL from "ical.js";

const MAX_OCCURRENCES = 50;

function instant(time, what, errors) {
  if (time === null || time === undefined) {
    return null;
  }
  if (!time.isDate && time.zone === ICAL.Timezone.localTimezone) {
    errors.push(`${what} is floating or names a TZID the file does not define: ${time}`);
  }
  return new Date(time.toUnixTime() * 1000).toISOString().replace(".000Z", "Z");
}

function text(component, name) {
  const value = component.getFirstPropertyValue(name);
  return value === null || value === undefined ? null : String(value);
}

function readVevent(component, method) {
  const errors = [];
  const event = new ICAL.Event(component);
  const sequence = component.getFirstPropertyValue("sequence");
  const recurrenceId = component.getFirstProperty("recurrence-id");
  const result = {
    uid: text(component, "uid"),
    sequence: sequence === null ? null : Number(sequence),
    status: text(component, "status"),
    method,
    summary: text(component, "summary"),
    organizer: text(component, "organizer"),
    recurrence_id: recurrenceId ? instant(recurrenceId.getFirstValue(), "RECURRENCE-ID", errors) : null,
    dtstart: instant(event.startDate, "DTSTART", errors),
    dtend: instant(event.endDate, "DTEND", errors),
    occurrences: [],
    errors,
  };
  if (event.isRecurring()) {
    const iterator = event.iterator();
    let next;
    while (result.occurrences.length < MAX_OCCURRENCES && (next = iterator.next())) {
      const details = event.getOccurrenceDetails(next);
      result.occurrences.push({
        start: instant(details.startDate, "occurrence start", errors),
        end: instant(details.endDate, "occurrence end", errors),
      });
    }
  } else {
    result.occurrences.push({ start: result.dtstart, end: result.dtend });
  }
  return result;
}

function readCalendar(source) {
  ICAL.TimezoneService.reset();
  try {
    const calendar = new ICAL.Component(ICAL.parse(source));
    for (const vtimezone of calendar.getAllSubcomponents("vtimezone")) {
      ICAL.TimezoneService.register(new ICAL.Timezone(vtimezone));
    }
    const method = text(calendar, "method");
    const vevents = calendar.getAllSubcomponents("vevent").map((c) => readVevent(c, method));
    return { method, vevents, errors: [] };
  } catch (error) {
    return { method: null, vevents: [], errors: [`ical.js: ${error}`] };
  }
}

async function stdin() {
  const chunks = [];
  for await (const chunk of process.stdin) {
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString("utf-8");
}

const input = await stdin();
const output = process.argv.includes("--batch")
  ? JSON.parse(input).map(readCalendar)
  : readCalendar(input);
process.stdout.write(JSON.stringify(output));
