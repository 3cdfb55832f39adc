"""Every write of mentoring programmes: authoring, applications, matching, the relationship."""

import contextlib
import zoneinfo
from collections import Counter
from collections.abc import Iterable
from datetime import date, datetime, time, timedelta
from typing import Any

import numpy as np
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext, ngettext

from events import authoring as event_authoring
from events import services as event_services
from events.models import Event, Registration, StageRole
from matchmaking import explanations, notify, selectors, solver
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
from matchmaking.scoring import members_of
from members.models import Cluster, Language, Organisation, Sector, Topic, User
from members.selectors import clusters_managed_by

PROGRAMME_FIELDS = (
    "title", "summary", "description", "format", "circle_size", "circle_meeting_weeks",
    "applications_open_at", "applications_close_at", "starts_on", "ends_on", "timezone",
    "mentee_eligibility", "mentee_target_group", "mentor_eligibility", "mentor_target_group",
    "allow_mentor_gender_preference", "weight_topics", "weight_relevance", "weight_seniority",
    "weight_place", "weight_preferences", "acceptance_days", "nudge_after_days",
)  # fmt: skip
APPLICATION_FIELDS = (
    "seniority", "meeting_format", "country", "region", "timezone", "availability", "capacity",
    "gender_may_be_matched", "goals", "preferred_organisation_kinds",
    "preferred_mentor_gender", "belongs_to_target_group",
)  # fmt: skip
# Circle meetings start at this local time and last this long.
CIRCLE_MEETING_START = time(17, 0)
CIRCLE_MEETING_MINUTES = 90


def _lock_programme(programme_id: int) -> Programme:
    """The programme's row, locked: applying, withdrawing, reviewing, running, closing and
    publishing take their turns, so a run knows exactly which applications it read."""
    return Programme.objects.select_for_update().get(pk=programme_id)


def _require_manager(*, user: User, programme: Programme) -> None:
    if not selectors.user_manages_programme(user=user, programme=programme):
        raise PermissionDenied(gettext("Only organisers of this programme can do that."))


def _unique_slug(title: str, *, exclude_pk: int | None = None) -> str:
    base = (slugify(title) or "programme")[:100].strip("-") or "programme"
    taken = Programme.objects.filter(Q(slug=base) | Q(slug__startswith=f"{base}-"))
    if exclude_pk:
        taken = taken.exclude(pk=exclude_pk)
    slugs = set(taken.values_list("slug", flat=True)) | {"manage", "mine", "matches"}
    slug, n = base, 2
    while slug in slugs:
        slug, n = f"{base}-{n}", n + 1
    return slug


# --- programmes ------------------------------------------------------------------------


def _validate_programme(*, programme: Programme, by: User, clusters: list[Cluster] | None) -> None:
    errors: dict[str, list[str]] = {}
    if clusters is not None:
        # As for events: at least one cluster the editor organises; others co-organise,
        # and a co-organiser cannot take the other clusters' programme away from them.
        managed = set(clusters_managed_by(user=by).values_list("pk", flat=True))
        chosen = {c.pk for c in clusters}
        if not chosen:
            errors["clusters"] = [gettext("Choose at least one cluster.")]
        elif not chosen & managed:
            errors["clusters"] = [
                gettext("At least one of the clusters must be one that you organise.")
            ]
        if programme.pk:
            removed = set(programme.clusters.values_list("pk", flat=True)) - chosen
            if removed - managed:
                errors.setdefault("clusters", []).append(
                    gettext("You can only remove clusters that you organise.")
                )
    try:
        zoneinfo.ZoneInfo(programme.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = [gettext("Not a known time zone, e.g. Europe/Brussels.")]
    if (
        programme.applications_open_at
        and programme.applications_close_at
        and programme.applications_close_at <= programme.applications_open_at
    ):
        errors["applications_close_at"] = [gettext("Applications must close after they open.")]
    if programme.starts_on and programme.ends_on and programme.ends_on <= programme.starts_on:
        errors["ends_on"] = [gettext("The programme must end after it starts.")]
    if (
        programme.applications_close_at
        and programme.starts_on
        and programme.applications_close_at.date() > programme.starts_on
    ):
        errors["starts_on"] = [gettext("The programme should start after applications close.")]
    for role in ("mentee", "mentor"):
        eligibility = getattr(programme, f"{role}_eligibility")
        if (
            eligibility == Programme.Eligibility.TARGET_GROUP
            and not getattr(programme, f"{role}_target_group").strip()
        ):
            errors[f"{role}_target_group"] = [gettext("Describe the target group.")]
    weights = [getattr(programme, f"weight_{n}") for n in
               ("topics", "relevance", "seniority", "place", "preferences")]  # fmt: skip
    if sum(weights) == 0:
        errors["weight_topics"] = [gettext("At least one weight must be above zero.")]
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def programme_create(*, by: User, fields: dict[str, Any], clusters: Iterable[Cluster]) -> Programme:
    unknown = set(fields) - set(PROGRAMME_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    clusters = list(clusters)
    programme = Programme(**fields, created_by=by, status=Programme.Status.DRAFT)
    programme.title = (programme.title or "").strip()
    _validate_programme(programme=programme, by=by, clusters=clusters)
    programme.slug = _unique_slug(programme.title)
    programme.full_clean()
    programme.save()
    programme.clusters.set(clusters)
    return programme


@transaction.atomic
def programme_update(
    *,
    programme: Programme,
    by: User,
    changes: dict[str, Any],
    clusters: Iterable[Cluster] | None = None,
) -> Programme:
    _require_manager(user=by, programme=programme)
    unknown = set(changes) - set(PROGRAMME_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    programme = Programme.objects.select_for_update().get(pk=programme.pk)
    format_changes = "format" in changes and changes["format"] != programme.format
    if format_changes and programme.matches.exists():
        raise ValidationError(
            {"format": gettext("The format cannot change once matching has run.")}
        )
    for name, value in changes.items():
        setattr(programme, name, value)
    clusters = list(clusters) if clusters is not None else None
    _validate_programme(programme=programme, by=by, clusters=clusters)
    programme.full_clean()
    programme.save(update_fields=[*changes, "updated_at"])
    if clusters is not None:
        programme.clusters.set(clusters)
    return programme


_NEXT_STATUS = {
    Programme.Status.DRAFT: Programme.Status.OPEN,
    Programme.Status.OPEN: Programme.Status.MATCHING,
    Programme.Status.MATCHING: Programme.Status.RUNNING,
}


@transaction.atomic
def programme_set_status(*, programme: Programme, by: User, status: str) -> Programme:
    """Open a draft for applications, close applications (matching), or complete it.

    Closing applications is this explicit step (or publishing, or the end of the window);
    running the matching never closes them.
    """
    _require_manager(user=by, programme=programme)
    programme = Programme.objects.select_for_update().get(pk=programme.pk)
    allowed = {_NEXT_STATUS.get(programme.status)}
    if programme.status == Programme.Status.RUNNING:
        allowed = {Programme.Status.COMPLETED}
    if status not in allowed:
        raise ValidationError(
            gettext("A programme in the status “%(current)s” cannot become “%(next)s”.")
            % {
                "current": programme.get_status_display(),
                "next": Programme.Status(status).label,
            }
        )
    if status == Programme.Status.COMPLETED:
        _complete_running_matches(programme=programme)
    programme.status = status
    programme.save(update_fields=["status", "updated_at"])
    return programme


def _complete_running_matches(*, programme: Programme) -> None:
    now = timezone.now()
    for match in (
        Match.objects.select_for_update(of=("self",))
        .filter(programme=programme, status__in=Match.RUNNING_STATUSES)
        .select_related("programme", "mentor__user__profile", "mentee__user__profile")
    ):
        match.status = Match.Status.COMPLETED
        match.ended_at = now
        match.save(update_fields=["status", "ended_at", "updated_at"])
        notify.match_feedback_requested(match=match)


# --- applications ----------------------------------------------------------------------


def application_defaults(*, user: User, role: str) -> dict[str, Any]:
    """An application prefilled from the person's profile."""
    profile = getattr(user, "profile", None)
    if profile is None:
        return {}
    topics = profile.expertise if role == Application.Role.MENTOR else profile.interests
    return {
        "topics": list(topics.values_list("pk", flat=True)),
        "languages": list(profile.languages.values_list("pk", flat=True)),
        "sectors": list(profile.sectors.values_list("pk", flat=True)),
        "country": profile.country,
        "timezone": profile.timezone,
    }


def _validate_application(
    *, application: Application, programme: Programme, topics: list, languages: list
) -> None:
    errors: dict[str, list[str]] = {}
    role = application.role
    if not topics:
        errors["topics"] = [
            gettext("Choose at least one topic you can mentor on.")
            if role == Application.Role.MENTOR
            else gettext("Choose at least one topic you want to grow in.")
        ]
    if not languages:
        errors["languages"] = [gettext("Choose at least one language you can be mentored in.")]
    eligibility = (
        programme.mentor_eligibility if role == Application.Role.MENTOR
        else programme.mentee_eligibility
    )  # fmt: skip
    if (
        eligibility == Programme.Eligibility.TARGET_GROUP
        and not application.belongs_to_target_group
    ):
        group = programme.mentor_target_group if role == Application.Role.MENTOR else (
            programme.mentee_target_group
        )  # fmt: skip
        errors["belongs_to_target_group"] = [
            gettext("This track is for: %(group)s. Confirm you belong.") % {"group": group}
        ]
    if role == Application.Role.MENTEE:
        kinds = application.preferred_organisation_kinds or []
        if not isinstance(kinds, list) or any(k not in Organisation.Kind.values for k in kinds):
            errors["preferred_organisation_kinds"] = [gettext("Choose from the listed kinds.")]
        if application.preferred_mentor_gender and not programme.allow_mentor_gender_preference:
            errors["preferred_mentor_gender"] = [
                gettext("This programme does not match on a preferred mentor gender.")
            ]
        if not application.goals.strip():
            errors["goals"] = [gettext("Say in a sentence or two what you want from mentoring.")]
    try:
        zoneinfo.ZoneInfo(application.timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        errors["timezone"] = [gettext("Not a known time zone, e.g. Europe/Brussels.")]
    if application.meeting_format == Application.MeetingFormat.IN_PERSON and not (
        application.country
    ):
        errors["country"] = [
            gettext("Give your country, so in-person partners can be found near you.")
        ]
    if errors:
        raise ValidationError(errors)


def _set_relations(
    application: Application,
    *,
    topics: list[Topic],
    languages: list[Language],
    sectors: list[Sector],
    preferred_sectors: list[Sector],
    avoid: list[User],
) -> None:
    application.topics.set(topics)
    application.languages.set(languages)
    application.sectors.set(sectors)
    application.preferred_sectors.set(
        preferred_sectors if application.role == Application.Role.MENTEE else []
    )
    application.avoid.set(avoid if application.role == Application.Role.MENTEE else [])


@transaction.atomic
def application_submit(
    *,
    programme: Programme,
    user: User,
    role: str,
    fields: dict[str, Any],
    topics: Iterable[Topic],
    languages: Iterable[Language],
    sectors: Iterable[Sector] = (),
    preferred_sectors: Iterable[Sector] = (),
    avoid: Iterable[User] = (),
) -> Application:
    """Apply as mentor or mentee while applications are open."""
    unknown = set(fields) - set(APPLICATION_FIELDS)
    if unknown:
        raise ValueError(f"Not editable: {', '.join(sorted(unknown))}")
    if role not in Application.Role.values:
        raise ValidationError({"role": gettext("Apply as a mentor or as a mentee.")})
    # Read on the locked row: an organiser closing applications meanwhile is seen.
    programme = _lock_programme(programme.pk)
    if not programme.accepts_applications:
        raise ValidationError(gettext("Applications to this programme are not open."))
    if not selectors.user_may_apply(user=user, programme=programme):
        raise PermissionDenied(gettext("This programme is for members of its clusters."))
    if Application.objects.filter(programme=programme, user=user).exists():
        raise ValidationError(gettext("You have already applied to this programme."))
    topics, languages = list(topics), list(languages)
    avoid = [person for person in avoid if person.pk != user.pk]
    profile = getattr(user, "profile", None)
    application = Application(
        programme=programme,
        user=user,
        role=role,
        organisation=profile.organisation if profile else None,
        **fields,
    )
    if role == Application.Role.MENTOR:
        application.goals = ""
        application.preferred_organisation_kinds = []
        application.preferred_mentor_gender = ""
        if programme.is_circles:
            application.capacity = 1  # a mentor leads one circle
    else:
        application.capacity = 1
        application.gender_may_be_matched = False
    _validate_application(
        application=application, programme=programme, topics=topics, languages=languages
    )
    application.full_clean(exclude=["user", "programme"])
    try:
        with transaction.atomic():
            application.save()
    except IntegrityError as error:
        raise ValidationError(gettext("You have already applied to this programme.")) from error
    _set_relations(
        application, topics=topics, languages=languages, sectors=list(sectors),
        preferred_sectors=list(preferred_sectors), avoid=avoid,
    )  # fmt: skip
    return application


@transaction.atomic
def application_withdraw(*, application: Application, by: User) -> Application:
    """The applicant steps back. A live match of theirs ends (and its partner is told)."""
    if application.user_id != by.pk:
        raise PermissionDenied(gettext("Only the applicant can withdraw an application."))
    _lock_programme(application.programme_id)
    application = Application.objects.select_for_update().get(pk=application.pk)
    if application.status == Application.Status.WITHDRAWN:
        return application
    application.status = Application.Status.WITHDRAWN
    application.save(update_fields=["status", "updated_at"])
    live = Match.objects.filter(
        Q(mentor=application) | Q(mentee=application), status__in=Match.LIVE_STATUSES
    ).exclude(status=Match.Status.COMPLETED)
    for match in live.select_related("programme", "mentor__user__profile", "mentee__user__profile"):
        if match.published_at is None:
            match.delete()
            continue
        _end(match=match, status=_ended_status(match), reason=explanations.WITHDREW)
        _leave_circle_event(match=match, user=by)
        notify.match_ended(match=match, by=by)
    return application


def _leave_circle_event(*, match: Match, user: User) -> None:
    """Whoever withdraws from a circle leaves its event series (its seat frees up)."""
    if match.circle_id is None or match.circle.event_id is None:
        return
    for registration in Registration.objects.filter(
        event_id=match.circle.event_id,
        user=user,
        session__isnull=True,
        status__in=Registration.ACTIVE_STATUSES,
    ):
        # (when the series is over, attendance stays as history)
        with contextlib.suppress(event_services.RegistrationError):
            event_services.registration_cancel(registration=registration, by=user)


def _ended_status(match: Match) -> str:
    return Match.Status.DECLINED if match.status == Match.Status.PROPOSED else (
        Match.Status.ENDED_EARLY
    )  # fmt: skip


@transaction.atomic
def application_review(*, application: Application, by: User, approve: bool) -> Application:
    _require_manager(user=by, programme=application.programme)
    _lock_programme(application.programme_id)
    application = Application.objects.select_for_update().get(pk=application.pk)
    if application.status == Application.Status.WITHDRAWN:
        raise ValidationError(gettext("This application was withdrawn."))
    if (
        not approve
        and Match.objects.filter(
            Q(mentor=application) | Q(mentee=application),
            status__in=Match.LIVE_STATUSES,
            published_at__isnull=False,
        ).exists()
    ):
        raise ValidationError(gettext("This person already has a published match; end it first."))
    application.status = Application.Status.APPROVED if approve else Application.Status.REJECTED
    application.reviewed_by = by
    application.reviewed_at = timezone.now()
    application.save(update_fields=["status", "reviewed_by", "reviewed_at", "updated_at"])
    if not approve:
        Match.objects.filter(
            Q(mentor=application) | Q(mentee=application), published_at__isnull=True
        ).delete()
    return application


# --- pair rules ------------------------------------------------------------------------


@transaction.atomic
def pair_rule_set(
    *, programme: Programme, by: User, mentor: Application, mentee: Application, kind: str
) -> PairRule:
    """Lock a pair (kept on every re-run) or forbid it (never proposed)."""
    _require_manager(user=by, programme=programme)
    if kind not in PairRule.Kind.values:
        raise ValidationError({"kind": gettext("Lock or forbid.")})
    if mentor.programme_id != programme.pk or mentee.programme_id != programme.pk:
        raise ValidationError(gettext("Both applications must belong to this programme."))
    if mentor.role != Application.Role.MENTOR or mentee.role != Application.Role.MENTEE:
        raise ValidationError(gettext("Choose a mentor and a mentee."))
    if kind == PairRule.Kind.LOCK:
        if mentor.organisation_id and mentor.organisation_id == mentee.organisation_id:
            raise ValidationError(
                gettext("A mentor and mentee of the same organisation are never paired.")
            )
        PairRule.objects.filter(mentee=mentee, kind=PairRule.Kind.LOCK).exclude(
            mentor=mentor
        ).delete()
    rule, _ = PairRule.objects.update_or_create(
        programme=programme, mentor=mentor, mentee=mentee,
        defaults={"kind": kind, "created_by": by},
    )  # fmt: skip
    if kind == PairRule.Kind.FORBID:
        Match.objects.filter(
            programme=programme, mentor=mentor, mentee=mentee, published_at__isnull=True
        ).delete()
    return rule


@transaction.atomic
def pair_rule_remove(*, rule: PairRule, by: User) -> None:
    _require_manager(user=by, programme=rule.programme)
    rule.delete()


# --- matching --------------------------------------------------------------------------


@transaction.atomic
def programme_match_run(*, programme: Programme, by: User) -> MatchingRun:
    """Propose an optimal assignment of the programme's approved mentees: a preview for
    the organisers. Nobody is told, and applications stay open; a later run replaces it.

    Unpublished proposals are replaced; published matches (and their places) are kept;
    locked pairs stay; pairs someone declined or the organisers forbade are never made.
    Circle programmes group the mentees around mentors the same way, each mentor's group
    becoming a circle.
    """
    _require_manager(user=by, programme=programme)
    programme = _lock_programme(programme.pk)
    if programme.status not in (Programme.Status.OPEN, Programme.Status.MATCHING,
                                Programme.Status.RUNNING):  # fmt: skip
        raise ValidationError(gettext("Open the programme for applications first."))
    # Every change to an application waits for this lock, so any change after this
    # moment is one the run did not see (publishing then refuses the stale proposals).
    applications_as_of = timezone.now()
    data = selectors.matching_input(programme=programme)
    if not data.mentees:
        raise ValidationError(gettext("No approved mentee is waiting for a match."))
    if not data.mentors:
        raise ValidationError(gettext("Approve at least one mentor first."))
    result = solver.assign(scores=data.scorer, capacities=data.capacities, locked=data.locked)
    if not result.certified:
        # Never propose what could not be proven optimal (the solver falls back to the
        # full pair set before this, so this is a bug, not a size limit).
        raise ValidationError(
            gettext("The matching could not be certified optimal; nothing changed.")
        )

    # Every figure kept is a shown one, without the preferred mentor gender the solver
    # also weighed (see scoring.py). The certificate's value and dual bound are in the
    # solver's objective: kept, their difference from the shown total would say how much
    # of the mentees' hidden preferences the chosen pairs met. So the run keeps what the
    # certificate proves — certified, and a gap of 0 — and not those two figures (0).
    shown = {
        i: max(0, int(data.scorer.shown_block(i, i + 1)[0, j]))
        for i, j in enumerate(result.mentor_of.tolist())
        if j >= 0
    }
    Match.objects.filter(programme=programme, published_at__isnull=True).delete()
    Circle.objects.filter(programme=programme, event__isnull=True).exclude(
        matches__published_at__isnull=False
    ).delete()
    run = MatchingRun.objects.create(
        programme=programme,
        created_by=by,
        mentees=len(data.mentees),
        mentors=len(data.mentors),
        placed=result.placed,
        total_score=sum(shown.values()),
        value=0,
        dual_bound=0,
        certified=result.certified,
        pruned=result.pruned,
        candidate_pairs=result.candidate_pairs,
        allowed_pairs=result.allowed_pairs,
        seconds=round(result.seconds, 4),
        applications_as_of=applications_as_of,
    )
    load = np.bincount(result.mentor_of[result.mentor_of >= 0], minlength=len(data.mentors))
    full = load >= data.capacities
    circles: dict[int, Circle] = {}
    if programme.is_circles:
        circles = _circles_for(programme=programme, data=data, mentor_of=result.mentor_of)
    block = data.scorer
    new_matches = []
    # Explanations as data, worded when shown (in the reader's language, not the organiser's).
    unplaced: dict[str, explanations.Explanation] = {}
    for i, j in enumerate(result.mentor_of.tolist()):
        mentee = data.mentees[i]
        if j < 0:
            unplaced[str(mentee.pk)] = block.explain_unplaced(i, full)
            continue
        reasons, rules = block.explain_pair(i, j)
        if i in data.locked:
            rules = [*rules, explanations.gettext("Locked by the organisers")]
        new_matches.append(
            Match(
                programme=programme,
                run=run,
                mentor=data.mentors[j],
                mentee=mentee,
                circle=circles.get(j),
                score=shown[i],
                reasons=reasons,
                rules=rules,
            )
        )
    Match.objects.bulk_create(new_matches, batch_size=500)
    run.unplaced = unplaced
    run.save(update_fields=["unplaced"])
    return run


def _circles_for(*, programme: Programme, data, mentor_of: np.ndarray) -> dict[int, Circle]:
    """One circle per mentor who got mentees, named after the shared focus."""
    circles: dict[int, Circle] = {}
    existing = {c.mentor_id: c for c in Circle.objects.filter(programme=programme)}
    vocabulary = data.scorer.vocabulary
    topic_ids = list(Topic.objects.order_by("pk").values_list("pk", flat=True))
    for j in sorted(set(mentor_of[mentor_of >= 0].tolist())):
        mentor = data.mentors[j]
        members = np.flatnonzero(mentor_of == j)
        # The circle's focus: the mentor's topics, most shared by its mentees first.
        mentor_topics = data.scorer.mentors.topics[j]
        counts = Counter(
            t for i in members for t in members_of(data.scorer.mentees.topics[i] & mentor_topics)
        )
        focus = sorted(counts, key=lambda t: (-counts[t], t))[:3]
        name = gettext("Circle of %(mentor)s") % {"mentor": data.scorer.mentors.names[j]}
        if focus:
            name += ": " + ", ".join(vocabulary.topics[t] for t in focus)
        name = event_authoring.single_line(name)  # a person's name may hold a line break
        circle = existing.get(mentor.pk)
        language_id = data.circle_language.get(mentor.pk)
        if circle is None:
            circle = Circle.objects.create(
                programme=programme, mentor=mentor, name=name[:200], language_id=language_id
            )
        elif circle.event_id is None:
            circle.name, circle.language_id = name[:200], language_id
            circle.save(update_fields=["name", "language"])
        circle.topics.set([topic_ids[t] for t in focus if t < len(topic_ids)])
        circles[j] = circle
    return circles


@transaction.atomic
def programme_publish(*, programme: Programme, by: User) -> int:
    """Tell both people of every unpublished proposal; they answer before the deadline.

    Publishing closes applications if they are still open (the programme runs). Proposals
    of a run that did not see every application — one came in, changed, was reviewed or
    withdrawn since — are refused: run the matching again first. Circle programmes get
    their circles' event series now. Returns how many matches were published.
    """
    _require_manager(user=by, programme=programme)
    programme = _lock_programme(programme.pk)
    run = selectors.latest_run(programme=programme)
    if run is not None and run.published_at is None:
        changed = selectors.applications_changed_since(run=run)
        if changed:
            raise ValidationError(
                ngettext(
                    "%(n)d application came in or changed after the matching ran, so its "
                    "proposals may no longer be the best: run the matching again, then "
                    "publish.",
                    "%(n)d applications came in or changed after the matching ran, so its "
                    "proposals may no longer be the best: run the matching again, then "
                    "publish.",
                    changed,
                )
                % {"n": changed}
            )
    pending = list(
        Match.objects.select_for_update(of=("self",))
        .filter(programme=programme, published_at__isnull=True, status=Match.Status.PROPOSED)
        .select_related("mentor__user__profile", "mentee__user__profile", "circle", "programme")
    )
    if not pending:
        raise ValidationError(
            gettext("There are no new proposals to publish; run the matching first.")
        )
    now = timezone.now()
    respond_by = now + timedelta(days=programme.acceptance_days)
    if programme.is_circles:
        for circle in {m.circle for m in pending if m.circle is not None}:
            event = _circle_event(circle=circle, programme=programme, by=by)
            # A re-run can add mentees to a circle whose event exists: invite them too
            # (already invited addresses are skipped).
            emails = [m.mentee.user.email for m in pending if m.circle_id == circle.pk]
            if any(emails):
                event_authoring.invitation_add(event=event, by=by, emails=emails)
    for match in pending:
        match.published_at = now
        match.respond_by = respond_by
        match.save(update_fields=["published_at", "respond_by", "updated_at"])
    if run is not None and run.published_at is None:
        run.published_at = now
        run.save(update_fields=["published_at"])
    if programme.status in (Programme.Status.OPEN, Programme.Status.MATCHING):
        # The programme runs: applications close now if they were still open.
        programme.status = Programme.Status.RUNNING
        programme.save(update_fields=["status", "updated_at"])
    for match in pending:
        notify.match_published(match=match)
    return len(pending)


def _meeting_starts(programme: Programme) -> list[datetime]:
    zone = zoneinfo.ZoneInfo(programme.timezone)
    day: date = programme.starts_on
    starts = []
    while day <= programme.ends_on and len(starts) < 60:
        starts.append(datetime.combine(day, CIRCLE_MEETING_START, tzinfo=zone))
        day += timedelta(weeks=programme.circle_meeting_weeks)
    return starts


def _circle_event(*, circle: Circle, programme: Programme, by: User) -> Event:
    """The circle as an invitation-only event series: one session per meeting."""
    if circle.event_id:
        return circle.event
    starts = [s for s in _meeting_starts(programme) if s > timezone.now()]
    if not starts:
        raise ValidationError(
            gettext("The programme's dates are over; move them to publish circles.")
        )
    length = timedelta(minutes=CIRCLE_MEETING_MINUTES)
    summary = event_authoring.single_line(
        gettext("A mentoring circle of %(programme)s.") % {"programme": programme.title}
    )
    # Every organiser of the programme manages its circles' events too.
    clusters = list(programme.clusters.all())
    event = event_authoring.event_create(
        by=by,
        fields={
            "kind": Event.Kind.MENTORING_CIRCLE,
            # One line each: the event's title and summary refuse line breaks.
            "title": event_authoring.single_line(circle.name)[:200],
            "summary": summary[:300],
            "description": event_authoring.plain_text(programme.summary),
            "timezone": programme.timezone,
            "starts_at": starts[0],
            "ends_at": starts[-1] + length,
            "audience": Event.Audience.INVITATION,
            # No platform named: each reader sees "Online" in their language.
            "online_platform": "",
            "language": circle.language,
            "capacity": programme.circle_size + 1,
        },
        clusters=clusters,
        topics=list(circle.topics.all()),
    )
    for number, start in enumerate(starts, 1):
        event_authoring.session_create(
            event=event, by=by,
            fields={"kind": "meeting",
                    "title": gettext("Meeting %(number)s") % {"number": number},
                    "starts_at": start, "ends_at": start + length},
        )  # fmt: skip
    event_authoring.event_publish(event=event, by=by)
    mentor = circle.mentor
    emails = [mentor.user.email] + [
        m.mentee.user.email for m in circle.matches.select_related("mentee__user")
    ]
    event_authoring.invitation_add(event=event, by=by, emails=[e for e in emails if e])
    if hasattr(mentor.user, "profile"):
        event_authoring.stage_role_add(
            event=event, by=by, role=StageRole.Role.MODERATOR, profile=mentor.user.profile
        )
    circle.event = event
    circle.save(update_fields=["event"])
    return event


# --- the relationship ------------------------------------------------------------------


def _side(match: Match, user: User) -> str:
    if match.mentor.user_id == user.pk:
        return "mentor"
    if match.mentee.user_id == user.pk:
        return "mentee"
    raise PermissionDenied(gettext("Only the two people of a match can do that."))


def _end(*, match: Match, status: str, reason: str) -> None:
    """`reason`: one of `explanations.END_REASONS` (translated when shown) or a person's words."""
    match.status = status
    match.ended_at = timezone.now()
    match.end_reason = reason[:300]
    match.save(update_fields=["status", "ended_at", "end_reason", "updated_at"])


def _join_circle_event(match: Match) -> None:
    """A circle member who accepted is registered for the circle's event series."""
    circle = match.circle
    if circle is None or circle.event_id is None:
        return
    event = circle.event
    for user in (match.mentee.user, match.mentor.user):
        if not Registration.objects.filter(
            event=event, user=user, session__isnull=True, status__in=Registration.ACTIVE_STATUSES
        ).exists():
            try:
                event_services.event_register(event=event, user=user)
            except event_services.RegistrationError as error:
                raise ValidationError(
                    gettext("The circle's meetings cannot take you: %(error)s") % {"error": error}
                ) from error


@transaction.atomic
def match_respond(*, match: Match, by: User, accept: bool) -> Match:
    """One side accepts or declines a published proposal. Both accepting starts it;
    a decline ends it, frees the mentor's place and the organisers can re-run."""
    match = (
        Match.objects.select_for_update(of=("self",))
        .select_related(
            "programme", "mentor__user__profile", "mentee__user__profile", "circle__event"
        )
        .get(pk=match.pk)
    )
    side = _side(match, by)
    if match.published_at is None or match.status != Match.Status.PROPOSED:
        raise ValidationError(gettext("This match is not waiting for an answer."))
    if match.respond_by and timezone.now() > match.respond_by:
        raise ValidationError(gettext("The time to answer has passed."))
    answer = Match.Answer.ACCEPTED if accept else Match.Answer.DECLINED
    setattr(match, f"{side}_answer", answer)
    fields = [f"{side}_answer", "updated_at"]
    if not accept:
        match.status = Match.Status.DECLINED
        match.ended_at = timezone.now()
        match.end_reason = explanations.DECLINED_BY[side]
        fields += ["status", "ended_at", "end_reason"]
    elif match.mentor_answer == match.mentee_answer == Match.Answer.ACCEPTED:
        match.status = Match.Status.ACCEPTED
        match.accepted_at = timezone.now()
        fields += ["status", "accepted_at"]
    match.save(update_fields=fields)
    if match.status == Match.Status.ACCEPTED:
        _join_circle_event(match)
        notify.match_accepted(match=match)
    elif match.status == Match.Status.DECLINED:
        notify.match_ended(match=match, by=by)
    return match


def matches_expire_overdue() -> int:
    """Published proposals nobody finished answering by the deadline are declined."""
    expired = 0
    overdue = Match.objects.filter(
        status=Match.Status.PROPOSED, published_at__isnull=False, respond_by__lt=timezone.now()
    ).values_list("pk", flat=True)
    for pk in list(overdue):
        with transaction.atomic():
            match = (
                Match.objects.select_for_update(of=("self",))
                .select_related("programme", "mentor__user__profile", "mentee__user__profile")
                .filter(pk=pk, status=Match.Status.PROPOSED)
                .first()
            )
            if match is None:
                continue
            _end(match=match, status=Match.Status.DECLINED, reason=explanations.NO_ANSWER)
            notify.match_ended(match=match, by=None)
            expired += 1
    return expired


@transaction.atomic
def meeting_log_add(*, match: Match, by: User, met_on: date, notes: str = "") -> MeetingLog:
    """Log a meeting: the match becomes active; notes are for the pair only."""
    match = Match.objects.select_for_update().get(pk=match.pk)
    _side(match, by)
    if match.status not in Match.RUNNING_STATUSES:
        raise ValidationError(gettext("Meetings can be logged once both have accepted."))
    today = timezone.localdate()
    if met_on > today:
        raise ValidationError({"met_on": gettext("Log meetings that have taken place.")})
    if match.accepted_at and met_on < timezone.localdate(match.accepted_at) - timedelta(days=1):
        raise ValidationError({"met_on": gettext("That is before the match began.")})
    log = MeetingLog.objects.create(match=match, met_on=met_on, notes=notes.strip(), logged_by=by)
    fields = ["updated_at"]
    if match.status == Match.Status.ACCEPTED:
        match.status = Match.Status.ACTIVE
        fields.append("status")
    if match.last_met_on is None or met_on > match.last_met_on:
        match.last_met_on = met_on
        fields.append("last_met_on")
    match.save(update_fields=fields)
    return log


@transaction.atomic
def match_update_goals(*, match: Match, by: User, goals: str, progress: str) -> Match:
    match = Match.objects.select_for_update().get(pk=match.pk)
    _side(match, by)
    if match.status not in Match.RUNNING_STATUSES:
        raise ValidationError(gettext("Goals can be edited while the mentoring runs."))
    match.goals, match.progress = goals.strip(), progress.strip()
    match.full_clean(exclude=["programme", "mentor", "mentee", "run", "circle"])
    match.save(update_fields=["goals", "progress", "updated_at"])
    return match


@transaction.atomic
def match_end(*, match: Match, by: User, completed: bool, reason: str = "") -> Match:
    """Either person (or an organiser) ends a running match: completed, or early."""
    match = (
        Match.objects.select_for_update(of=("self",))
        .select_related("programme", "mentor__user__profile", "mentee__user__profile")
        .get(pk=match.pk)
    )
    is_manager = selectors.user_manages_programme(user=by, programme=match.programme)
    if not is_manager:
        _side(match, by)
    if match.status not in Match.RUNNING_STATUSES:
        raise ValidationError(gettext("Only a running match can end."))
    if not completed and not reason.strip():
        raise ValidationError({"reason": gettext("Say briefly why it ends early.")})
    _end(
        match=match,
        status=Match.Status.COMPLETED if completed else Match.Status.ENDED_EARLY,
        reason=reason.strip(),
    )
    if not completed and match.circle_id:
        # A mentee whose circle membership ends early leaves the circle's meetings too.
        _leave_circle_event(match=match, user=match.mentee.user)
    notify.match_feedback_requested(match=match)
    return match


@transaction.atomic
def feedback_submit(*, match: Match, by: User, rating: int, comment: str = "") -> Feedback:
    match = (
        Match.objects.select_related("mentor", "mentee")
        .select_for_update(of=("self",))
        .get(pk=match.pk)
    )
    _side(match, by)
    if match.status not in (Match.Status.COMPLETED, Match.Status.ENDED_EARLY, Match.Status.ACTIVE):
        raise ValidationError(gettext("Feedback opens once you have met."))
    if not isinstance(rating, int) or isinstance(rating, bool) or not 1 <= rating <= 5:
        raise ValidationError({"rating": gettext("Rate from 1 to 5.")})
    feedback, _ = Feedback.objects.update_or_create(
        match=match, author=by, defaults={"rating": rating, "comment": comment.strip()}
    )
    return feedback


def matches_nudge_due() -> int:
    """Remind running pairs who have not logged a meeting for the programme's nudge time.

    Idempotent within that time: a pair is nudged again only after as long once more.
    """
    now = timezone.now()
    nudged = 0
    running = Match.objects.filter(
        status__in=Match.RUNNING_STATUSES, programme__status=Programme.Status.RUNNING
    ).select_related("programme", "mentor__user__profile", "mentee__user__profile")
    for match in running.iterator(chunk_size=500):
        quiet_for = timedelta(days=match.programme.nudge_after_days)
        last = (
            datetime.combine(match.last_met_on, time(), tzinfo=zoneinfo.ZoneInfo("UTC"))
            if match.last_met_on
            else match.accepted_at
        )
        if last is None or now - last < quiet_for:
            continue
        if match.nudged_at and now - match.nudged_at < quiet_for:
            continue
        with transaction.atomic():
            updated = Match.objects.filter(pk=match.pk, nudged_at=match.nudged_at).update(
                nudged_at=now
            )
            if updated:
                match.nudged_at = now  # the message's step (idempotency key) is this nudge
                notify.match_nudge(match=match)
                nudged += 1
    return nudged
