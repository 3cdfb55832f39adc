"""The organiser's scheduler: run it (a proposal with its proof of quality), then publish.

`schedule_run` reads the event's accepted meetings, who attends which blocks, the
meetings each person wants at most, the tables in use and the slots that are not breaks,
hands them to the pure solver (`scheduler.schedule`), and stores the proposal as a
`ScheduleRun` — nobody is told anything. Published meetings stay where they are (pinned)
unless the organiser allows moves; then they may move, but as few as possible.

`schedule_publish` places every meeting of the proposal in one transaction under the
lock of the event's `BrokerageSettings` row: seats of both sides, slot, table,
`published_at`, and SEQUENCE+1 for every published meeting whose slot or table changed
(or that loses its place). Accepted meetings the run did not place stay accepted,
without a slot. The same transaction records on the run which meetings changed (the
agenda mail it owes) and queues `tasks.schedule_mail_task` on commit, so publishing does
not wait for a thousand mails to be built.

The agenda mail: each side of each changed meeting gets its calendar change
(`notify.meetings_changed`) from that task, in batches of `MAIL_BATCH` meetings, each
batch in one transaction with the run's progress (`mail_done`), until the run is marked
mailed (`mailed_at`). Mail is built from the meeting as it is then: moved again since,
it carries the current SEQUENCE; cancelled, a CANCEL. Idempotency keys per meeting,
person, SEQUENCE and METHOD make a repeated batch or task send nothing twice; a beat
sweep (`schedule_mail_sweep`) queues again a run whose task was lost.

A run is stale — and publishing it is refused — when a newer run exists, or when any of
the event's accepted meetings (or a meeting of the proposal) changed after the data was
read, or a participant changed their blocks or cap, or a slot or table of the proposal is
no longer usable. The run's `created_at` is the moment the data was read.

The number of queries does not grow with the number of meetings (bulk reads and
writes).
"""

import time
from collections import defaultdict
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from events.models import Event, Registration
from events.selectors import user_manages_event
from matchmaking.brokerage import notify, scheduler
from matchmaking.brokerage.models import (
    BrokerageSettings,
    Meeting,
    MeetingSeat,
    Participant,
    ScheduleRun,
    Slot,
    Table,
)
from matchmaking.brokerage.selectors import seat_lost
from members.models import User

BULK_BATCH = 2000


def _require_manager(*, user: User | None, event: Event) -> None:
    if user is not None and not user_manages_event(user=user, event=event):
        raise PermissionDenied(_("Only organisers of this event can run its scheduler."))


def _day(*, event: Event, allow_moves: bool):
    """The solver's input for `event`, read in a fixed number of queries, and the maps
    back to database ids."""
    slots = list(
        Slot.objects.filter(event=event, is_break=False)
        .order_by("starts_at", "pk")
        .values_list("pk", "block_id")
    )
    slot_index = {pk: i for i, (pk, _block) in enumerate(slots)}
    slots_of_block: dict[int, set[int]] = defaultdict(set)
    for i, (_pk, block_id) in enumerate(slots):
        slots_of_block[block_id].add(i)
    table_ids = list(
        Table.objects.filter(event=event, is_active=True)
        .order_by("position", "pk")
        .values_list("pk", flat=True)
    )
    # Tables and seats held by live meetings outside the run (a request holding a slot).
    held_tables: dict[int, set[int]] = defaultdict(set)
    for slot_id, table_id in Meeting.objects.filter(
        event=event, status=Meeting.Status.PENDING, slot__isnull=False, table__isnull=False
    ).values_list("slot_id", "table_id"):
        if slot_id in slot_index:
            held_tables[slot_index[slot_id]].add(table_id)
    busy: dict[int, set[int]] = defaultdict(set)
    for participant_id, slot_id in MeetingSeat.objects.filter(
        slot__event=event, meeting__status=Meeting.Status.PENDING
    ).values_list("participant_id", "slot_id"):
        if slot_id in slot_index:
            busy[participant_id].add(slot_index[slot_id])
    tables = [[t for t in table_ids if t not in held_tables[s]] for s in range(len(slots))]

    seated = set(
        Registration.objects.filter(
            event=event, session__isnull=True, status__in=Registration.SEAT_STATUSES
        ).values_list("user_id", flat=True)
    )
    blocks_of: dict[int, set[int]] = defaultdict(set)
    for participant_id, block_id in Participant.blocks.through.objects.filter(
        participant__event=event
    ).values_list("participant_id", "meetingblock_id"):
        blocks_of[participant_id].add(block_id)
    all_slots = frozenset(range(len(slots)))
    people = {}
    for pk, user_id, max_meetings in Participant.objects.filter(event=event).values_list(
        "pk", "user_id", "max_meetings"
    ):
        if user_id not in seated:
            available = frozenset()
        elif blocks_of[pk]:
            available = frozenset().union(*(slots_of_block[b] for b in blocks_of[pk]))
        else:  # no block marked: present all day
            available = all_slots
        people[pk] = scheduler.Person(available=available - busy[pk], max_meetings=max_meetings)

    requests, published, n_published = [], {}, 0
    table_set = set(table_ids)
    for pk, a, b, slot_id, table_id, published_at in (
        Meeting.objects.filter(event=event, status=Meeting.Status.ACCEPTED)
        .order_by("created_at", "pk")
        .values_list("pk", "requester_id", "recipient_id", "slot_id", "table_id", "published_at")
    ):
        requests.append(scheduler.Request(id=pk, a=a, b=b))
        n_published += bool(published_at and slot_id)
        # A published place in a slot that became a break, or at a table no longer in
        # use, cannot be kept: that meeting is placed afresh.
        if published_at and slot_id in slot_index and table_id in table_set:
            published[pk] = scheduler.Place(slot=slot_index[slot_id], table=table_id)
    return {
        "tables": tables,
        "people": people,
        "meetings": requests,
        "pinned": {} if allow_moves else published,
        "hinted": published if allow_moves else {},
        "slot_ids": [pk for pk, _block in slots],
        "n_published": n_published,
    }


def schedule_run(
    *,
    event: Event,
    by: User | None,
    allow_moves: bool = False,
    time_limit: float = scheduler.DEFAULT_TIME_LIMIT,
) -> ScheduleRun:
    """Compute and store a schedule proposal for the event's accepted meetings (nothing
    is published or mailed). `by` None: a task acting for the organisers."""
    _require_manager(user=by, event=event)
    if event.kind != Event.Kind.BROKERAGE:
        raise ValidationError(_("This event is not a brokerage event."))
    as_of = timezone.now()
    started = time.perf_counter()
    day = _day(event=event, allow_moves=allow_moves)
    slot_ids = day.pop("slot_ids")
    n_published = day.pop("n_published")
    run = ScheduleRun(
        event=event,
        started_by=by,
        allow_moves=allow_moves,
        accepted=len(day["meetings"]),
    )
    try:
        result = scheduler.schedule(**day, time_limit=time_limit)
    except (scheduler.SchedulerError, ValueError) as error:
        run.outcome = ScheduleRun.Outcome.FAILED
        run.bound_detail = {"error": str(error)}
        run.seconds = round(time.perf_counter() - started, 3)
    else:
        run.outcome = (
            ScheduleRun.Outcome.OPTIMAL
            if result.status == scheduler.OPTIMAL
            else ScheduleRun.Outcome.FEASIBLE
        )
        run.scheduled = result.scheduled
        run.upper_bound = result.upper_bound
        run.bound_detail = result.bound_detail
        # Published meetings kept where they were; moved includes those left unplaced.
        run.kept = len(day["pinned"]) + result.kept
        run.moved = n_published - run.kept
        run.assignment = sorted(
            [mid, slot_ids[place.slot], place.table] for mid, place in result.placed.items()
        )
        run.seconds = round(time.perf_counter() - started, 3)
    run.save()
    # created_at is the moment the data was read: any change after it makes the run stale.
    ScheduleRun.objects.filter(pk=run.pk).update(created_at=as_of)
    run.created_at = as_of
    return run


def _stale(message: str) -> ValidationError:
    return ValidationError(
        _("This proposal is out of date: %(reason)s Run the scheduler again.") % {"reason": message}
    )


def _write_places(meetings: list[Meeting]) -> None:
    """Set slot, table and sequence of many meetings in one UPDATE per batch (a VALUES
    list joined on the id; PostgreSQL and SQLite alike) — Django's `bulk_update` builds
    a CASE per row and field, which costs seconds per thousand rows."""
    table = connection.ops.quote_name(Meeting._meta.db_table)
    for start in range(0, len(meetings), BULK_BATCH):
        chunk = meetings[start : start + BULK_BATCH]
        values = ", ".join(["(%s, %s, %s, %s)"] * len(chunk))
        params = [x for m in chunk for x in (m.pk, m.slot_id, m.table_id, m.sequence)]
        with connection.cursor() as cursor:
            # A quoted model table and placeholders only: every value is a parameter.
            sql = (
                f"UPDATE {table} SET slot_id = v.column2, table_id = v.column3, "  # noqa: S608
                f"sequence = v.column4 FROM (VALUES {values}) AS v WHERE {table}.id = v.column1"
            )
            cursor.execute(sql, params)


def schedule_publish(*, run: ScheduleRun, by: User) -> int:
    """Place every meeting of the run's proposal; both sides of every change are mailed
    by the task queued on commit (the mail owed is recorded on the run, in the same
    transaction, so none is lost).

    Returns how many meetings changed (placed, moved, or taken out of their slot)."""
    event = run.event
    _require_manager(user=by, event=event)
    with transaction.atomic():
        brokerage = BrokerageSettings.objects.select_for_update().get(event=event)
        run = ScheduleRun.objects.select_for_update().get(pk=run.pk)
        if run.outcome == ScheduleRun.Outcome.FAILED:
            raise ValidationError(_("This run failed; there is nothing to publish."))
        if run.published_at is not None:
            raise ValidationError(_("This proposal has already been published."))
        if ScheduleRun.objects.filter(event=event, pk__gt=run.pk).exists():
            raise _stale(_("the scheduler has run again since."))
        target = {mid: (slot_id, table_id) for mid, slot_id, table_id in run.assignment}
        rows = {
            row[0]: row
            for row in Meeting.objects.filter(
                Q(event=event) & (Q(status=Meeting.Status.ACCEPTED) | Q(pk__in=list(target)))
            ).values_list(
                "pk",
                "status",
                "slot_id",
                "table_id",
                "published_at",
                "sequence",
                "updated_at",
                "requester_id",
                "recipient_id",
            )
        }
        if any(mid not in rows or rows[mid][1] != Meeting.Status.ACCEPTED for mid in target):
            raise _stale(_("a meeting of it is no longer accepted."))
        if any(row[6] > run.created_at for row in rows.values()):
            raise _stale(_("meetings were accepted, cancelled or moved since it ran."))
        if Participant.objects.filter(event=event, updated_at__gt=run.created_at).exists():
            raise _stale(_("participants changed their blocks or meetings since it ran."))
        # Someone in it who no longer has a seat (the run gives them no time; a new run
        # leaves their meetings out, and the sweep cancels them).
        if Meeting.objects.filter(pk__in=list(target)).filter(seat_lost()).exists():
            raise _stale(_("someone in it no longer has a seat on the event."))
        # The slots and tables it uses, locked in primary key order (as placements and
        # the organiser's changes lock them), so none is deleted, made a break or taken
        # out of use between this check and the commit.
        used_slots = sorted({s for s, _t in target.values()})
        used_tables = sorted({t for _s, t in target.values()})
        usable_slots = set(
            Slot.objects.select_for_update()
            .filter(event=event, is_break=False, pk__in=used_slots)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        usable_tables = set(
            Table.objects.select_for_update()
            .filter(event=event, is_active=True, pk__in=used_tables)
            .order_by("pk")
            .values_list("pk", flat=True)
        )
        if any(s not in usable_slots or t not in usable_tables for s, t in target.values()):
            raise _stale(_("a time or a table it uses was changed since it ran."))

        now = timezone.now()
        changed: list[Meeting] = []
        taken_out: list[int] = []  # published meetings that lose their place
        for pk, _status, slot_id, table_id, published_at, sequence, *_rest in rows.values():
            new_slot, new_table = target.get(pk, (None, None))
            if (slot_id, table_id) == (new_slot, new_table) and (
                new_slot is None or published_at is not None
            ):
                continue
            meeting = Meeting(pk=pk, slot_id=new_slot, table_id=new_table, sequence=sequence)
            if published_at is not None and slot_id is not None:
                meeting.sequence = sequence + 1  # moved, or taken out of its slot
                if new_slot is None:
                    taken_out.append(pk)
            changed.append(meeting)
        changed_ids = [m.pk for m in changed]
        try:
            # Out of the way first, so no move collides with one not yet made.
            MeetingSeat.objects.filter(meeting_id__in=changed_ids).delete()
            Meeting.objects.filter(pk__in=changed_ids).update(slot=None, table=None, updated_at=now)
            Meeting.objects.filter(pk__in=[m.pk for m in changed if m.slot_id is not None]).update(
                published_at=now
            )
            _write_places([m for m in changed if m.slot_id is not None])
            Meeting.objects.filter(pk__in=taken_out).update(sequence=F("sequence") + 1)
            MeetingSeat.objects.bulk_create(
                [
                    MeetingSeat(meeting_id=m.pk, participant_id=side, slot_id=m.slot_id)
                    for m in changed
                    if m.slot_id is not None
                    for side in rows[m.pk][7:9]
                ],
                batch_size=BULK_BATCH,
            )
        except IntegrityError as error:
            raise _stale(_("a time or a table it uses was taken since it ran.")) from error
        run.published_at = now
        # The agenda mail is owed, durably, with the placements; a task builds it after
        # commit (`schedule_mail_send`) and the sweep takes it up again if that task is lost.
        run.mail_meeting_ids = sorted(changed_ids)
        run.mail_done = 0
        run.mail_queued_at = now
        run.mailed_at = None if changed_ids else now
        run.save(
            update_fields=["published_at", "mail_meeting_ids", "mail_done", "mail_queued_at",
                           "mailed_at"]
        )  # fmt: skip
        brokerage.schedule_published_at = now
        brokerage.save(update_fields=["schedule_published_at", "updated_at"])
        if changed_ids:
            _queue_mail(run_id=run.pk)
    return len(changed)


# --- the agenda mail of a published run --------------------------------------------------

MAIL_BATCH = 200  # meetings per transaction (two mails each)
MAIL_TASK_SECONDS = 120  # then the task hands over to a fresh one


def mail_requeue_after() -> timedelta:
    """A run still owing mail this long after a task last took it up (or it was queued)
    has lost its task (a broker restart, a killed worker): the sweep queues it again.
    Well above the time of one batch, so a live task is not doubled (a doubled one does
    no harm: batches wait for each other and mail already queued is skipped)."""
    return timedelta(seconds=getattr(settings, "BROKERAGE_MAIL_REQUEUE_AFTER_SECONDS", 3 * 60))


def _queue_mail(*, run_id: int) -> None:
    from matchmaking.brokerage.tasks import schedule_mail_task

    # robust: a broker that is down must not undo or fail the publish; the owed mail is
    # on the run row and the sweep queues it later.
    transaction.on_commit(lambda: schedule_mail_task.delay(run_id=run_id), robust=True)


def schedule_mail_batch(*, run_id: int, size: int = MAIL_BATCH) -> bool:
    """Send the agenda mail of the next `size` meetings a published run owes, in one
    transaction; True once the run owes nothing more.

    Under the run's row lock (two tasks on one run take turns, each batch once) and the
    meetings' (a participant's change waits, so the mail shows each meeting as it is
    now: its current SEQUENCE, or a CANCEL). Mail already in the outbox is skipped
    (`notify.meetings_changed`), so repeating a batch sends nothing twice."""
    with transaction.atomic():
        run = (
            ScheduleRun.objects.select_for_update()
            .only("pk", "published_at", "mail_meeting_ids", "mail_done", "mailed_at")
            .filter(pk=run_id)
            .first()
        )
        if run is None or run.published_at is None or run.mailed_at is not None:
            return True
        ids = run.mail_meeting_ids[run.mail_done : run.mail_done + size]
        if ids:
            locked = Meeting.objects.select_for_update().filter(pk__in=ids).order_by("pk")
            notify.meetings_changed(meeting_ids=list(locked.values_list("pk", flat=True)))
        now = timezone.now()
        run.mail_done = min(run.mail_done + len(ids), len(run.mail_meeting_ids))
        run.mail_queued_at = now
        done = run.mail_done >= len(run.mail_meeting_ids)
        if done:
            run.mailed_at = now
        run.save(update_fields=["mail_done", "mail_queued_at", "mailed_at"])
    return done


def schedule_mail_send(*, run_id: int, seconds: float = MAIL_TASK_SECONDS) -> bool:
    """Batches of the run's owed agenda mail for about `seconds`; True when all is sent.
    If time runs out first, the rest goes to a fresh task (queued once this one's last
    batch has committed)."""
    started = time.monotonic()
    while not schedule_mail_batch(run_id=run_id):
        if time.monotonic() - started > seconds:
            _queue_mail(run_id=run_id)  # outside any transaction: queued at once
            return False
    return True


def schedule_mail_sweep(*, now=None) -> int:
    """Queue again the runs whose agenda mail is owed and no task took up for a while
    (`mail_requeue_after`); how many. Every minute (beat)."""
    now = now or timezone.now()
    with transaction.atomic():
        stale = list(
            ScheduleRun.objects.select_for_update(skip_locked=True)
            .filter(
                published_at__isnull=False,
                mailed_at__isnull=True,
                mail_queued_at__lt=now - mail_requeue_after(),
            )
            .values_list("pk", flat=True)
        )
        ScheduleRun.objects.filter(pk__in=stale).update(mail_queued_at=now)
        for pk in stale:
            _queue_mail(run_id=pk)
    return len(stale)


def schedule_mail_progress(*, run: ScheduleRun) -> dict | None:
    """How far the agenda mail of a published run is: {"done", "total", "finished"} in
    meetings (each two mails); None when publishing it changed nothing to mail. Reads
    the run's own fields, no query."""
    total = len(run.mail_meeting_ids or [])
    if run.published_at is None or not total:
        return None
    return {"done": run.mail_done, "total": total, "finished": run.mailed_at is not None}
