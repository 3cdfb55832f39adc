"""Reading meeting-platform participant lists and signing check-in codes."""

import xml.etree.ElementTree as ET

import pytest

from events.attendance import (
    ParticipantFileError,
    checkin_registration_id,
    checkin_token,
    parse_participants,
    qr_svg,
)

ZOOM = (
    (
        "Meeting ID,Topic,Start Time,End Time,User Email,Duration (Minutes),Participants\n"
        "812 3456 7890,Predictive maintenance,03/28/2027 09:58:12 AM,03/28/2027 11:02:40 AM,"
        "host@cluster.example,65,3\n"
    )
    + """
Name (Original Name),User Email,Join Time,Leave Time,Duration (Minutes),Guest
Anna Keller,anna.keller@keller.example,03/28/2027 09:59:01 AM,03/28/2027 11:02:40 AM,64,No
Phone caller,,03/28/2027 10:05:00 AM,03/28/2027 10:30:00 AM,25,Yes
Bruno Weiss,BRUNO@Weiss.example,03/28/2027 10:00:30 AM,03/28/2027 11:00:00 AM,60,No
"""
)

WEBEX = (
    "Attendee Name;Attendee Email;Join Time;Leave Time;Attendance Duration\n"
    "Yann Le Goff;yann@legoff.example;10:00;11:00;60 mins\n"
)


def test_a_zoom_report_yields_its_participants_not_the_host_summary():
    rows = parse_participants(ZOOM.encode())
    assert [(r.name, r.email) for r in rows] == [
        ("Anna Keller", "anna.keller@keller.example"),
        ("Phone caller", ""),
        ("Bruno Weiss", "BRUNO@Weiss.example"),
    ]
    assert [r.line for r in rows] == [5, 6, 7]


def test_a_teams_list_in_utf16_with_tabs_is_read():
    text = (
        "Full Name\tUser Action\tTimestamp\tEmail\n"
        "Zoë Müller\tJoined\t3/28/2027, 10:00:00 AM\tzoe@mueller.example\n"
    )
    rows = parse_participants(text.encode("utf-16"))
    assert [(r.name, r.email) for r in rows] == [("Zoë Müller", "zoe@mueller.example")]


def test_a_webex_list_with_semicolons_and_a_byte_order_mark_is_read():
    rows = parse_participants(b"\xef\xbb\xbf" + WEBEX.encode())
    assert [(r.name, r.email) for r in rows] == [("Yann Le Goff", "yann@legoff.example")]


@pytest.mark.parametrize("header", ["E-MAIL", "email address", "Participant Email", "eMail"])
def test_the_email_column_is_found_whatever_its_case(header):
    rows = parse_participants(f"Name,{header}\nAnna,anna@example.org\n".encode())
    assert rows[0].email == "anna@example.org"


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "The file is empty."),
        (b"Name,Company\nAnna,Keller\n", "No e-mail column found."),
        ("Name,Email\nJosé,jose@example.org\n".encode("latin-1"), "The file is not UTF-8 text."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "This is not a CSV file."),
    ],
)
def test_a_file_that_is_not_a_participant_list_is_refused_with_a_reason(data, message):
    with pytest.raises(ParticipantFileError) as error:
        parse_participants(data)
    assert str(error.value).startswith(message)


def test_a_checkin_token_names_its_registration_and_carries_nothing_else():
    token = checkin_token(registration_id=42)
    assert checkin_registration_id(token) == 42
    assert "/" not in token
    assert token.split(":")[0] == "42"


@pytest.mark.parametrize(
    "forge",
    [
        lambda t: "43" + t[2:],  # another registration, same signature
        lambda t: t[:-1] + ("A" if t[-1] != "A" else "B"),  # tampered signature
        lambda t: "42",
        lambda t: "",
    ],
)
def test_a_forged_token_names_no_registration(forge):
    assert checkin_registration_id(forge(checkin_token(registration_id=42))) is None


def test_a_token_signed_for_another_purpose_is_refused():
    from django.core import signing

    other = signing.TimestampSigner(salt="something.else").sign("42")
    assert checkin_registration_id(other) is None


def test_the_qr_code_is_a_well_formed_svg():
    svg = qr_svg(data="https://clusterhub.example/events/x/checkin/42:abc:def/", title="Code")
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    assert root.tag.endswith("svg")
    assert "<title>Code</title>" in svg


def test_a_teams_report_in_utf16_with_a_summary_block_is_read():
    report = (
        "1. Summary\nMeeting title\tPlant visit\nAttended participants\t2\n\n"
        "2. Participants\nName\tFirst Join\tLast Leave\tEmail\tRole\n"
        "Anna Keller\t1/1/25\t1/1/25\tanna@example.org\tAttendee\n"
        "Bo Berg\t1/1/25\t1/1/25\tbo@example.org\tAttendee\n"
    )
    rows = parse_participants(report.encode("utf-16"))
    assert [(r.email, r.name) for r in rows] == [
        ("anna@example.org", "Anna Keller"),
        ("bo@example.org", "Bo Berg"),
    ]


def test_an_older_teams_export_with_only_a_upn_column_is_read():
    rows = parse_participants(b"Name,Participant ID (UPN),Role\nAnna,anna@example.org,Attendee\n")
    assert [r.email for r in rows] == ["anna@example.org"]
