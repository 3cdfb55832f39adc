"""What mentoring holds about a person, for their data export and account erasure."""

from django.db.models import Q

from events.personal_data import event_texts_redact
from matchmaking import explanations
from matchmaking.models import (
    Application,
    Circle,
    Feedback,
    Match,
    MatchingRun,
    MeetingLog,
    PairRule,
    Programme,
)
from members.models import User
from members.personal_data import FORMER_MEMBER, person_identifiers

# Why a match ended, as the services write it: no person's words, so they stay.
_STANDARD_END_REASONS = explanations.END_REASONS


def _name(user: User) -> str:
    profile = getattr(user, "profile", None)
    return profile.display_name if profile else FORMER_MEMBER


def export(user: User) -> dict:
    applications = (
        Application.objects.filter(user=user)
        .select_related("programme", "organisation")
        .prefetch_related("topics", "languages", "sectors", "preferred_sectors", "avoid__profile")
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
                # Whom they asked not to be matched with (nobody else is ever told).
                "avoid": sorted(_name(u) for u in a.avoid.all()),
                "applied_at": a.created_at.isoformat(),
            }
            for a in applications
        ],
        "matches": [
            {
                "programme": m.programme.title,
                "role": "mentor" if m.mentor.user_id == user.pk else "mentee",
                "status": m.status,
                "reasons": explanations.render_all(m.reasons),
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
        "circles_led": [
            {"programme": c.programme.title, "name": c.name}
            for c in Circle.objects.filter(mentor__user=user).select_related("programme")
        ],
        # As an organiser.
        "programmes_created": [
            p.title for p in Programme.objects.filter(created_by=user).order_by("pk")
        ],
        "applications_reviewed": [
            {"programme": a.programme.title, "reviewed_at": a.reviewed_at.isoformat()}
            for a in Application.objects.filter(reviewed_by=user, reviewed_at__isnull=False)
            .select_related("programme")
            .order_by("reviewed_at", "pk")
        ],
        "pair_rules_set": [
            {"programme": r.programme.title, "kind": r.kind, "created_at": r.created_at.isoformat()}
            for r in PairRule.objects.filter(created_by=user).select_related("programme")
        ],
        "matching_runs_started": [
            {"programme": r.programme.title, "created_at": r.created_at.isoformat()}
            for r in MatchingRun.objects.filter(created_by=user).select_related("programme")
        ],
    }


def erase(user: User) -> None:
    """Withdraw the person from every programme and forget what they wrote.

    Matches stay as anonymous counts for the programme's health figures; the goals,
    progress, meeting notes and reasons for ending early the pair wrote go, as do the
    person's feedback comments; what partners wrote (their application, their feedback)
    and the circles named after a mentor lose the person's name. Their place on other
    applicants' "not this person" lists goes too.
    """
    from matchmaking.services import application_withdraw

    redactor = person_identifiers(user).redactor()
    for application in Application.objects.filter(user=user).exclude(
        status=Application.Status.WITHDRAWN
    ):
        application_withdraw(application=application, by=user)
    Application.objects.filter(user=user).update(
        goals="", availability="", region="", preferred_mentor_gender=""
    )
    for application in Application.objects.filter(user=user):
        application.avoid.clear()
    Application.avoid.through.objects.filter(user=user).delete()
    theirs = Match.objects.filter(Q(mentor__user=user) | Q(mentee__user=user))
    theirs.update(goals="", progress="", reasons=[], rules=[])
    theirs.exclude(end_reason__in=_STANDARD_END_REASONS).update(end_reason="")
    MeetingLog.objects.filter(match__in=theirs).update(notes="")
    Feedback.objects.filter(author=user).update(comment="")
    partners = Application.objects.filter(
        Q(mentee_matches__mentor__user=user) | Q(mentor_matches__mentee__user=user)
    ).distinct()
    for application in partners:
        goals, availability = (redactor.text(application.goals),
                               redactor.text(application.availability))  # fmt: skip
        if (goals, availability) != (application.goals, application.availability):
            Application.objects.filter(pk=application.pk).update(
                goals=goals, availability=availability
            )
    for feedback in Feedback.objects.filter(match__in=theirs).exclude(author=user):
        comment = redactor.text(feedback.comment)
        if comment != feedback.comment:
            Feedback.objects.filter(pk=feedback.pk).update(comment=comment)
    circles = list(Circle.objects.filter(mentor__user=user))
    for circle in circles:
        name = redactor.text(circle.name)[:200]
        if name != circle.name:
            Circle.objects.filter(pk=circle.pk).update(name=name)
    event_texts_redact(
        event_ids=[c.event_id for c in circles if c.event_id is not None], redactor=redactor
    )
