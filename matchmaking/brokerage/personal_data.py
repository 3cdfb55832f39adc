"""What brokerage days hold about a person, for their data export and account erasure.

A person's part of a brokerage day: their participant row (organisation kind, headline,
meeting cap, the blocks they attend), their offers and requests, the meeting requests they
sent and received with their own messages, and their answers after the day.

Erasure takes the person out of every marketplace: their offers and requests go, their
headline and blocks go, their messages go, and the meetings still ahead of them are
withdrawn, declined or cancelled through the services (so the other side's slot is freed
and their calendar gets a CANCEL). A meeting that already happened, or one of a day that
is over, stays for the other side's agenda and for the organisers' funnel: its participant
row stays as an anonymous stand-in (the user row stays too, anonymised, without a
profile; pages and mail name it "A participant"), keeping only its organisation kind, which
the organisers' funnel counts by. A participant row with no meetings is deleted.
"""

from django.db.models import Prefetch, Q
from django.utils import timezone

from matchmaking.brokerage.models import MarketItem, Meeting, Participant, ScheduleRun
from members.models import User
from members.personal_data import FORMER_MEMBER, person_identifiers


def _name(participant: Participant) -> str:
    profile = getattr(participant.user, "profile", None)
    return profile.display_name if profile else FORMER_MEMBER


def _iso(moment) -> str | None:
    return moment.isoformat() if moment else None


def _meeting(meeting: Meeting, participant: Participant) -> dict:
    """One meeting as the person saw it: their own message and answers, the partner by
    name only (the partner's message and answers are the partner's)."""
    sent = meeting.requester_id == participant.pk
    partner = meeting.recipient if sent else meeting.requester
    return {
        "direction": "sent" if sent else "received",
        "partner": _name(partner),
        "status": meeting.status,
        "my_message": meeting.message if sent else "",
        "requested_at": _iso(meeting.created_at),
        "answered_at": _iso(meeting.answered_at),
        "expires_at": _iso(meeting.expires_at),
        "starts_at": _iso(meeting.slot.starts_at) if meeting.slot else None,
        "ends_at": _iso(meeting.slot.ends_at) if meeting.slot else None,
        "table": meeting.table.name if meeting.table else None,
        "checked_in_at": _iso(meeting.checked_in_at),
        "took_place": meeting.requester_held if sent else meeting.recipient_held,
        "may_lead_to_cooperation": (
            meeting.requester_follow_up if sent else meeting.recipient_follow_up
        ),
    }


def export(user: User) -> dict:
    meetings = Meeting.objects.select_related(
        "slot", "table", "requester__user__profile", "recipient__user__profile"
    ).order_by("created_at", "pk")
    participants = (
        Participant.objects.filter(user=user)
        .select_related("event")
        .prefetch_related(
            "blocks",
            Prefetch(
                "items",
                queryset=MarketItem.objects.prefetch_related("topics").order_by("pk"),
            ),
            Prefetch("requests_sent", queryset=meetings),
            Prefetch("requests_received", queryset=meetings),
        )
        .order_by("joined_at", "pk")
    )
    return {
        "participations": [
            {
                "event": p.event.title,
                "joined_at": _iso(p.joined_at),
                "organisation_kind": p.organisation_kind,
                "headline": p.headline,
                "max_meetings": p.max_meetings,
                "blocks": [
                    {"name": b.name, "starts_at": _iso(b.starts_at), "ends_at": _iso(b.ends_at)}
                    for b in p.blocks.all()
                ],
                "offers_and_requests": [
                    {
                        "direction": item.direction,
                        "type": item.type,
                        "title": item.title,
                        "description": item.description,
                        "topics": [t.name for t in item.topics.all()],
                        "created_at": _iso(item.created_at),
                    }
                    for item in p.items.all()
                ],
                "meetings": [
                    _meeting(m, p)
                    for m in sorted(
                        [*p.requests_sent.all(), *p.requests_received.all()],
                        key=lambda m: (m.created_at, m.pk),
                    )
                ],
            }
            for p in participants
        ],
        # As an organiser.
        "schedule_runs_started": [
            {"event": r.event.title, "created_at": _iso(r.created_at), "outcome": r.outcome}
            for r in ScheduleRun.objects.filter(started_by=user)
            .select_related("event")
            .order_by("created_at", "pk")
        ],
    }


def _meetings_ahead_end(*, participants: list[Participant]) -> None:
    """End the person's live meetings of days not over yet, through the services: the
    other side's slot is freed and their agenda told. Their seat is already gone here, so
    this is the leaver's path (`services.participant_leave`), not a side's own cancel."""
    from matchmaking.brokerage import services

    for participant in participants:
        services.participant_leave(participant=participant)


def erase(user: User) -> None:
    """Take the person out of every brokerage day; keep the other side's past meetings."""
    participants = list(Participant.objects.filter(user=user))
    if not participants:
        return
    redactor = person_identifiers(user).redactor()
    _meetings_ahead_end(participants=participants)
    MarketItem.objects.filter(participant__in=participants).delete()
    # Their own messages go; what the other side wrote to them loses their name.
    Meeting.objects.filter(requester__in=participants).exclude(message="").update(message="")
    for meeting in Meeting.objects.filter(recipient__in=participants).exclude(message=""):
        message = redactor.text(meeting.message)
        if message != meeting.message:
            meeting.message = message
            meeting.save(update_fields=["message", "updated_at"])
    with_meetings = set(
        Participant.objects.filter(pk__in=[p.pk for p in participants])
        .filter(Q(requests_sent__isnull=False) | Q(requests_received__isnull=False))
        .values_list("pk", flat=True)
    )
    Participant.objects.filter(pk__in=[p.pk for p in participants]).exclude(
        pk__in=with_meetings
    ).delete()
    # The stand-ins of past meetings: no headline, no blocks, no wish to meet anyone.
    stand_ins = Participant.objects.filter(pk__in=with_meetings)
    stand_ins.update(headline="", max_meetings=0, updated_at=timezone.now())
    Participant.blocks.through.objects.filter(participant_id__in=with_meetings).delete()
