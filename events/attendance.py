"""Pure helpers for attendance: meeting-platform participant lists and check-in QR codes.

Nothing here touches the database; the limits on an upload are in `members.imports`.
"""

import codecs
import csv
import io
import itertools
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import segno
from django.core import signing
from django.utils.translation import gettext as _

from members import imports

CHECKIN_SALT = "events.checkin"
MAX_HEADER_SEARCH_ROWS = 50


class ParticipantFileError(ValueError):
    """The uploaded file cannot be read as a participant list; the message says why."""


@dataclass(frozen=True)
class ParticipantRow:
    line: int
    email: str
    name: str


def _norm(header: str) -> str:
    return re.sub(r"[^a-z]", "", header.lower())


# Headers seen in Zoom ("User Email"), Teams ("Email", "Participant ID (UPN)") and Webex
# ("Attendee Email", "Email Address") exports; the best match wins.
_EMAIL_HEADERS_EXACT = ("email", "emailaddress", "mail")
_EMAIL_HEADERS_GOOD = (
    "useremail",
    "attendeeemail",
    "participantemail",
    "guestemail",
    "participantidupn",
)
_NAME_HEADERS = (
    "name",
    "nameoriginalname",
    "fullname",
    "participantname",
    "attendeename",
    "displayname",
    "username",
)


def email_column(header: list[str]) -> int | None:
    """Index of the e-mail column of a header row (case-insensitive), or None."""
    normalised = [_norm(cell) for cell in header]
    for wanted in (_EMAIL_HEADERS_EXACT, _EMAIL_HEADERS_GOOD):
        for index, cell in enumerate(normalised):
            if cell in wanted:
                return index
    for index, cell in enumerate(normalised):
        if "email" in cell and "host" not in cell:
            return index
    return None


def _name_column(header: list[str]) -> int | None:
    normalised = [_norm(cell) for cell in header]
    for index, cell in enumerate(normalised):
        if cell in _NAME_HEADERS:
            return index
    first, last = None, None
    for index, cell in enumerate(normalised):
        if cell in ("firstname", "givenname"):
            first = index
        elif cell in ("lastname", "surname", "familyname"):
            last = index
    return first if first is not None else last


def _decode(data: bytes) -> str:
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        # Teams writes its attendance lists as UTF-16 with a byte-order mark.
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as error:
            raise ParticipantFileError(_("The file could not be read as text.")) from error
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ParticipantFileError(
            _(
                "The file is not UTF-8 text. Export the participant list as CSV (UTF-8) "
                "from the meeting platform and upload it unchanged."
            )
        ) from error


def _dialect_by_header(text: str) -> type[csv.Dialect]:
    """The delimiter that splits an e-mail header line into columns.

    The sniffer gives up on files that open with a summary block (Teams' "1. Summary");
    the participant table's header line still tells the delimiter.
    """
    for line in text.splitlines()[:MAX_HEADER_SEARCH_ROWS]:
        for dialect in (csv.excel_tab, csv.excel):
            cells = next(csv.reader([line], dialect), [])
            if len(cells) > 1 and "@" not in line and email_column(cells) is not None:
                return dialect
        if len(line.split(";")) > 1 and email_column(line.split(";")) is not None:

            class Semicolon(csv.excel):
                delimiter = ";"

            return Semicolon
    return csv.excel


def _text(data: bytes) -> str:
    if not data.strip():
        raise ParticipantFileError(_("The file is empty."))
    if b"\x00" in data and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise ParticipantFileError(_("This is not a CSV file."))
    return _decode(data)


def _reader(text: str) -> Iterator[list[str]]:
    try:
        dialect = csv.Sniffer().sniff(text[:8192], delimiters=",;\t")
    except csv.Error:
        dialect = _dialect_by_header(text)
    return csv.reader(io.StringIO(text), dialect)


def _rows(reader: Iterable[list[str]]) -> list[list[str]]:
    try:
        return list(reader)
    except csv.Error as error:
        raise ParticipantFileError(
            _("This is not a readable CSV file (%(error)s).") % {"error": error}
        ) from error


def _header(rows: list[list[str]]) -> tuple[int, int, int | None]:
    """(header row index, e-mail column, name column) of the participant table: the last
    header row with an e-mail column among the first rows."""
    header_index, column = None, None
    for index, row in enumerate(rows[:MAX_HEADER_SEARCH_ROWS]):
        if any("@" in cell for cell in row):
            continue
        found = email_column(row)
        if found is not None:
            header_index, column = index, found
    if header_index is None or column is None:
        raise ParticipantFileError(
            _(
                "No e-mail column found. The participant list needs a column headed "
                "“Email” (or “User Email”, “Attendee Email”)."
            )
        )
    return header_index, column, _name_column(rows[header_index])


def participant_file_check(data: bytes, *, max_rows: int) -> None:
    """What the upload form checks before the import starts: `data` is a participant list
    of at most `max_rows` rows. Reads the first rows only; raises `ParticipantFileError`."""
    text = _text(data)
    if imports.rows_over_limit(text, limit=max_rows):
        raise ParticipantFileError(imports.too_many_rows_message(limit=max_rows))
    _header(_rows(itertools.islice(_reader(text), MAX_HEADER_SEARCH_ROWS)))


def parse_participants(data: bytes, *, max_rows: int | None = None) -> list[ParticipantRow]:
    """The participants of a meeting-platform CSV export (comma, semicolon or tab).

    Exports often start with a summary block (Zoom's meeting details, Teams' "1. Summary");
    the participant table is the last header row that has an e-mail column. Rows without
    an address are kept (with an empty e-mail) so they can be reported as unmatched.
    Raises `ParticipantFileError` on anything that is not such a file, or on a file of
    more than `max_rows` rows.
    """
    rows = _rows(_reader(_text(data)))
    if max_rows is not None and len(rows) > max_rows:
        raise ParticipantFileError(imports.too_many_rows_message(limit=max_rows))
    header_index, column, name_column = _header(rows)
    participants = []
    for offset, row in enumerate(rows[header_index + 1 :], start=header_index + 2):
        if not any(cell.strip() for cell in row):
            continue
        email = row[column].strip() if column < len(row) else ""
        name = (
            row[name_column].strip() if name_column is not None and name_column < len(row) else ""
        )
        participants.append(ParticipantRow(line=offset, email=email, name=name))
    return participants


# --- check-in QR codes -----------------------------------------------------------------


def checkin_token(*, registration_id: int) -> str:
    """A signed, URL-safe token naming one registration; it contains no personal data."""
    return signing.TimestampSigner(salt=CHECKIN_SALT).sign(str(registration_id))


def checkin_registration_id(token: str) -> int | None:
    """The registration id a token was signed for, or None for a forged or broken token."""
    try:
        value = signing.TimestampSigner(salt=CHECKIN_SALT).unsign(token)
    except signing.BadSignature:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def qr_svg(*, data: str, title: str = "") -> str:
    """An inline SVG QR code for `data` (dark on white, scannable from a phone screen)."""
    return segno.make(data, error="m").svg_inline(
        scale=6, border=4, dark="#1b2330", light="#ffffff", title=title or None
    )
