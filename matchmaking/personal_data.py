"""What mentoring holds about a person, for their data export and account erasure."""

from django.db.models import Q

from matchmaking.models import Application, Feedback, Match, MeetingLog
from members.models import User


def export(user: User) -> dict:
    applications = (
        Application.objects.filter(user=user)
        .select_related("programme", "organisation")
        .prefetch_related("topics", "languages", "sectors", "preferred_sectors")
        .order_by("pk")
    )
    matches = (
        Match.objects.filter(
            Q(mentor__user=user) | Q(mentee__user=user), published_at__isnull=False
        )
        .select_related("programme", "mentor__user__profile", "mentee__user__profile")
        .order_by("pk")
    )
    return {
        "applications": [
            {
                "programme": a.programme.title,
                "role": a.role,
                "status": a.status,
                "organisation": a.organisation.name if a.organisation else None,
                "topics": [t.name for t in a.topics.all()],
                "languages": [lang.name for lang in a.languages.all()],
                "sectors": [s.name for s in a.sectors.all()],
                "seniority": a.seniority,
                "meeting_format": a.meeting_format,
                "country": str(a.country),
                "timezone": a.timezone,
                "availability": a.availability,
                "capacity": a.capacity,
                "gender_may_be_matched": a.gender_may_be_matched,
                "goals": a.goals,
                "preferred_organisation_kinds": a.preferred_organisation_kinds,
                "preferred_sectors": [s.name for s in a.preferred_sectors.all()],
                "preferred_mentor_gender": a.preferred_mentor_gender,
                "applied_at": a.created_at.isoformat(),
            }
            for a in applications
        ],
        "matches": [
            {
                "programme": m.programme.title,
                "role": "mentor" if m.mentor.user_id == user.pk else "mentee",
                "status": m.status,
                "reasons": m.reasons,
                "goals": m.goals,
                "progress": m.progress,
                "meetings": [
                    {"met_on": log.met_on.isoformat(), "notes": log.notes}
                    for log in MeetingLog.objects.filter(match=m).order_by("met_on", "pk")
                ],
            }
            for m in matches
        ],
        "feedback": [
            {"programme": f.match.programme.title, "rating": f.rating, "comment": f.comment}
            for f in Feedback.objects.filter(author=user).select_related("match__programme")
        ],
    }


def erase(user: User) -> None:
    """Withdraw the person from every programme and forget what they wrote.

    Matches stay as anonymous counts for the programme's health figures; the goals,
    progress and meeting notes the pair wrote go, as do the person's feedback comments.
    """
    from matchmaking.services import application_withdraw

    for application in Application.objects.filter(user=user).exclude(
        status=Application.Status.WITHDRAWN
    ):
        application_withdraw(application=application, by=user)
    Application.objects.filter(user=user).update(
        goals="", availability="", region="", preferred_mentor_gender=""
    )
    for application in Application.objects.filter(user=user):
        application.avoid.clear()
    theirs = Match.objects.filter(Q(mentor__user=user) | Q(mentee__user=user))
    theirs.update(goals="", progress="", reasons=[], rules=[])
    MeetingLog.objects.filter(match__in=theirs).update(notes="")
    Feedback.objects.filter(author=user).update(comment="")
