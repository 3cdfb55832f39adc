"""Drawing releases: the one place where gender figures are made, each subject once.

An event is released `PRIVACY_RELEASE_AFTER_HOURS` after it ends, a cluster's pipeline
once a quarter has ended, a mentoring programme once it has ended. The beat job
(`releases_draw_due_task`, or `python manage.py draw_releases` from cron) draws what is
due; pages draw a due release they need that the job has not drawn yet. Drawing twice is
impossible: the subject's row is locked and a unique constraint backs it."""

from collections.abc import Iterable
from datetime import date, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Case, CharField, Exists, OuterRef, Q, QuerySet, Value, When
from django.utils import timezone

from events.models import Event, Registration, RegistrationTally, StageRole
from insights.models import Release, ReleasedCell
from matchmaking.models import Application, Feedback, Match, Programme
from members import privacy
from members.models import Cluster
from members.selectors import cluster_member_users

RS = Registration.Status
# Each registration is released in exactly one of these groups (by its status), so its
# category is in one noisy row only; the funnel's stages are sums of them.
REGISTRATION_GROUPS: dict[str, tuple[str, ...]] = {
    "confirmed": (RS.CONFIRMED,),
    "attended": (RS.ATTENDED,),
    "no_show": (RS.NO_SHOW,),
    "waitlisted": (RS.WAITLISTED,),
    "other": (RS.PENDING, RS.CANCELLED, RS.DECLINED),
}
MS = Match.Status
MATCHED_STATUSES = (MS.ACCEPTED, MS.ACTIVE, MS.COMPLETED)
# Each application is in one group; the programme's stages are sums of them.
APPLICATION_GROUPS = (
    "not_approved",
    "mentor_unmatched",
    "mentor_matched",
    "mentee_unmatched",
    "mentee_matched",
    "mentee_completed",
)


def _group_of_status(field: str = "status") -> Case:
    return Case(
        *(When(**{f"{field}__in": statuses}, then=Value(group))
          for group, statuses in REGISTRATION_GROUPS.items()),
        default=Value("other"),  # a status added later still counts as registered
        output_field=CharField(),
    )  # fmt: skip


def release_due_at(event: Event) -> datetime:
    return event.ends_at + timedelta(hours=settings.PRIVACY_RELEASE_AFTER_HOURS)


def events_due(*, now: datetime | None = None) -> QuerySet[Event]:
    """Ended events whose release is due and not drawn yet."""
    cutoff = (now or timezone.now()) - timedelta(hours=settings.PRIVACY_RELEASE_AFTER_HOURS)
    drawn = Release.objects.filter(subject=Release.Subject.EVENT).values("event_id")
    return (
        Event.objects.exclude(status=Event.Status.DRAFT)
        .filter(ends_at__lte=cutoff)
        .exclude(pk__in=drawn)
    )


def _cells(cells: privacy.NoisyCells, **fields) -> ReleasedCell:
    return ReleasedCell(total=cells.total, **cells.cells, **fields)


@transaction.atomic
def event_releases_draw(*, event_ids: Iterable[int], now: datetime | None = None) -> int:
    """Draw the releases of those of the given events that are due and not drawn: one
    noisy row per event (and session) and registration group. Returns how many."""
    due = events_due(now=now).filter(pk__in=list(event_ids))
    ids = list(due.select_for_update().values_list("pk", flat=True))
    ids = list(due.filter(pk__in=ids).values_list("pk", flat=True))  # after the lock
    if not ids:
        return 0
    sigma = privacy.noise_sigma()
    whole = privacy.release_tallies(
        RegistrationTally.objects.filter(event__in=ids).annotate(released_group=_group_of_status()),
        group_by=["event", "released_group"],
        count="registrations",
        sigma=sigma,
    )
    sessions = privacy.release_rows(
        Registration.objects.filter(event__in=ids, session__isnull=False).annotate(
            released_group=_group_of_status()
        ),
        group_by=["event", "session", "released_group"],
        sigma=sigma,
    )
    releases = Release.objects.bulk_create(
        [Release(subject=Release.Subject.EVENT, event_id=pk, sigma=sigma) for pk in ids]
    )
    by_event = {release.event_id: release for release in releases}
    rows = [
        _cells(cells, release=by_event[cells.key[0]], measure=cells.key[1])
        for cells in whole
        if cells.total and cells.key[0] in by_event
    ]
    rows += [
        _cells(cells, release=by_event[cells.key[0]], session_id=cells.key[1],
               measure=cells.key[2])
        for cells in sessions
        if cells.total and cells.key[0] in by_event
    ]  # fmt: skip
    ReleasedCell.objects.bulk_create(rows, batch_size=2000)
    return len(releases)


def event_releases_draw_due(*, among: Iterable[int] | QuerySet) -> int:
    """Draw the due releases among these events (ids, or a query of them), for a page
    about to read them: one query when nothing is due, as on most looks."""
    due = list(events_due().filter(pk__in=among).values_list("pk", flat=True))
    return event_releases_draw(event_ids=due) if due else 0


# --- a cluster's pipeline, per quarter --------------------------------------------------


def quarter_of(day: date) -> tuple[date, date]:
    start = date(day.year, 3 * ((day.month - 1) // 3) + 1, 1)
    end = date(start.year + (start.month == 10), (start.month + 3 - 1) % 12 + 1, 1)
    return start, end


def day_start(day: date) -> datetime:
    """Midnight at the start of `day` in the site's time zone."""
    return datetime.combine(day, datetime.min.time(), tzinfo=timezone.get_current_timezone())


def quarter_to_release(*, now: datetime | None = None) -> date:
    """The one quarter whose pipeline may be drawn now: the last one that has ended (plus
    the release delay). Members are counted as they are when it is drawn, so a quarter is
    drawn just after it ends or never — not later, and never on a page's request, or
    every look at an old quarter would be a fresh draw of today's members."""
    delay = timedelta(hours=settings.PRIVACY_RELEASE_AFTER_HOURS)
    moment = timezone.localtime(now or timezone.now()) - delay
    return quarter_of(quarter_of(moment.date())[0] - timedelta(days=1))[0]


@transaction.atomic
def pipeline_release_draw(
    *, cluster: Cluster, start: date, now: datetime | None = None
) -> Release | None:
    """The pipeline of the quarter that has just ended: members, and the people who
    registered, attended, spoke, were approved as mentees or mentors in it — each person
    once per stage. None for any other quarter (see `quarter_to_release`)."""
    start, end = quarter_of(start)
    if start != quarter_to_release(now=now):
        return None
    Cluster.objects.select_for_update().get(pk=cluster.pk)
    existing = Release.objects.filter(
        subject=Release.Subject.PIPELINE, cluster=cluster, period_start=start
    ).first()
    if existing:
        return existing
    sigma = privacy.noise_sigma()
    events = Event.objects.filter(
        clusters=cluster, starts_at__gte=day_start(start), starts_at__lt=day_start(end)
    ).exclude(status=Event.Status.DRAFT)
    [members] = privacy.release_rows(
        cluster_member_users(cluster=cluster, start=start, end=end),
        group_by=[], person="", sigma=sigma,
    )  # fmt: skip
    people = privacy.release_people(
        Registration.objects.filter(session__isnull=True, event__in=events.values("pk")),
        person="user",
        measures={"registered": Q(), "attended": Q(status=RS.ATTENDED)},
        sigma=sigma,
    )
    speakers = privacy.release_people(
        StageRole.objects.filter(event__in=events.values("pk"), profile__isnull=False),
        person="profile__user", measures={"speakers": Q()}, sigma=sigma,
    )  # fmt: skip
    programmes = Programme.objects.filter(clusters=cluster, ends_on__gte=start, starts_on__lt=end)
    mentoring = privacy.release_people(
        Application.objects.filter(
            status=Application.Status.APPROVED, programme__in=programmes.values("pk")
        ),
        person="user",
        measures={
            "mentees": Q(role=Application.Role.MENTEE),
            "mentors": Q(role=Application.Role.MENTOR),
        },
        sigma=sigma,
    )
    release = Release.objects.create(
        subject=Release.Subject.PIPELINE, cluster=cluster, period_start=start, sigma=sigma
    )
    stages = {"members": members, **people, **speakers, **mentoring}
    ReleasedCell.objects.bulk_create(
        [_cells(cells, release=release, measure=key) for key, cells in stages.items()]
    )
    return release


# --- a mentoring programme, once it has ended ----------------------------------------------


def programme_due(programme: Programme, *, now: datetime | None = None) -> bool:
    """Released once the programme's last day is over (plus the release delay)."""
    delay = timedelta(hours=settings.PRIVACY_RELEASE_AFTER_HOURS)
    return day_start(programme.ends_on + timedelta(days=1)) + delay <= (now or timezone.now())


def _application_groups(programme: Programme) -> QuerySet[Application]:
    matches = Match.objects.filter(programme=programme)
    approved = Q(status=Application.Status.APPROVED)
    mentor, mentee = Q(role=Application.Role.MENTOR), Q(role=Application.Role.MENTEE)
    as_mentee = matches.filter(mentee=OuterRef("pk"))
    as_mentor = matches.filter(mentor=OuterRef("pk"))
    return Application.objects.filter(programme=programme).annotate(
        released_group=Case(
            When(~approved, then=Value("not_approved")),
            When(mentor & Exists(as_mentor.filter(status__in=MATCHED_STATUSES)),
                 then=Value("mentor_matched")),
            When(mentor, then=Value("mentor_unmatched")),
            When(Exists(as_mentee.filter(status=MS.COMPLETED)), then=Value("mentee_completed")),
            When(Exists(as_mentee.filter(status__in=MATCHED_STATUSES)),
                 then=Value("mentee_matched")),
            When(mentee, then=Value("mentee_unmatched")),
            output_field=CharField(),
        )
    )  # fmt: skip


@transaction.atomic
def programme_release_draw(*, programme: Programme) -> Release | None:
    """Applicants → approved → matched → completed and satisfaction of an ended
    programme: each application in one group, each feedback once. None before it ends."""
    if not programme_due(programme):
        return None
    Programme.objects.select_for_update().get(pk=programme.pk)
    existing = Release.objects.filter(
        subject=Release.Subject.PROGRAMME, programme=programme
    ).first()
    if existing:
        return existing
    sigma = privacy.noise_sigma()
    groups = privacy.release_rows(
        _application_groups(programme), group_by=["released_group"], sigma=sigma
    )
    counts, sums = privacy.release_sums(
        Feedback.objects.filter(match__programme=programme),
        person="author", value="rating", upper=5, sigma=sigma,
    )  # fmt: skip
    release = Release.objects.create(
        subject=Release.Subject.PROGRAMME, programme=programme, sigma=sigma
    )
    rows = [_cells(cells, release=release, measure=cells.key[0]) for cells in groups]
    rows += [
        _cells(counts, release=release, measure="ratings"),
        _cells(sums, release=release, measure="rating_sum"),
    ]
    ReleasedCell.objects.bulk_create(rows)
    return release


def releases_draw_due(*, now: datetime | None = None) -> int:
    """Everything due: events (in batches), last quarter's pipelines, ended programmes."""
    drawn = 0
    while True:
        batch = list(events_due(now=now).values_list("pk", flat=True)[:2000])
        if not batch:
            break
        drawn += event_releases_draw(event_ids=batch, now=now)
    today = timezone.localtime(now or timezone.now()).date()
    last_quarter = quarter_to_release(now=now)
    for cluster in Cluster.objects.all():
        drawn += bool(pipeline_release_draw(cluster=cluster, start=last_quarter, now=now))
    drawn_programmes = Release.objects.filter(subject=Release.Subject.PROGRAMME).values(
        "programme_id"
    )
    for programme in Programme.objects.filter(ends_on__lt=today).exclude(pk__in=drawn_programmes):
        if programme_due(programme, now=now):
            drawn += bool(programme_release_draw(programme=programme))
    return drawn
