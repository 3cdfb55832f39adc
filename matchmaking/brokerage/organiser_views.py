"""Organiser pages of a brokerage day: settings, meeting blocks and slots, tables, the
scheduler with its proof of quality, the table plan, check-in per meeting and the funnel
after the day.

Every page answers 404 to anyone who does not manage the event (an organiser of one of
its clusters, or staff) and for events that are not brokerage events; every write goes
through `day_setup`, `scheduling` or `services`. Organisers see who meets whom (names and
organisations, as on the event's registration list) — never anyone's gender.
"""

from dataclasses import dataclass

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import Count, Q
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views import View

from events import selectors as event_selectors
from events.models import Event
from matchmaking.brokerage import day_setup, funnel, services
from matchmaking.brokerage.models import (
    MarketItem,
    Meeting,
    MeetingBlock,
    Participant,
    ScheduleRun,
    Slot,
    Table,
)
from matchmaking.brokerage.organiser_forms import (
    BlockForm,
    NumberedTablesForm,
    ScheduleRunForm,
    SettingsForm,
    TableForm,
)
from members.forms import add_service_error
from members.views import paginate, querystring_without_page

S = Meeting.Status
UNSCHEDULED_PER_PAGE = 50
# The scheduler runs in the request, bounded by this many seconds of solving.
SCHEDULER_SECONDS = 10
PERSON = ("user__profile__organisation",)
MEETING_RELATED = (
    "requester__user__profile__organisation",
    "recipient__user__profile__organisation",
    "slot",
    "table",
)
# What each part of the scheduler's upper bound means, in words (keys written by
# `matchmaking.brokerage.scheduling` into ScheduleRun.bound_detail).
BOUND_PARTS = {
    "tables_x_slots": gettext_lazy(
        "Tables × slots: no more meetings than there are free tables in all slots together."
    ),
    "people": gettext_lazy(
        "Everyone's free slots: each meeting takes two people, and nobody can meet more "
        "often than their free slots, their accepted meetings and their own cap allow."
    ),
    "meetings": gettext_lazy(
        "Requests with a common slot: only accepted meetings whose two people share at "
        "least one free slot can be placed."
    ),
    "pairs": gettext_lazy(
        "Pairs within everyone's limits: the most accepted meetings that can be held with "
        "nobody above their free slots or cap and no more than the tables, ignoring which "
        "slot each one takes."
    ),
    "solver": gettext_lazy(
        "The solver's bound: the most it proved any schedule could place, within its time."
    ),
}


def posted_id(request, name: str) -> int:
    """An id from a POST form; anything but digits is no object (404), never a 500."""
    value = request.POST.get(name, "")
    if not value.isdigit():
        raise Http404(_("No such object."))
    return int(value)


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def brokerage_event_get_managed(*, user, slug: str) -> Event:
    """The brokerage event with this slug, if this person manages it; 404 otherwise."""
    event = event_selectors.event_get_managed(user=user, slug=slug)
    if event.kind != Event.Kind.BROKERAGE:
        raise Http404(_("This event is not a brokerage event."))
    return event


class ManagedBrokerageView(LoginRequiredMixin, View):
    """Base of the organiser pages: the brokerage event, if this person manages it."""

    def managed_event(self, request, slug: str) -> Event:
        return brokerage_event_get_managed(user=request.user, slug=slug)


# --- overview and settings -------------------------------------------------------------


def _overview_counts(event: Event) -> dict[str, int]:
    meetings = (
        Meeting.objects.filter(event=event)
        .order_by()
        .aggregate(
            pending=Count("pk", filter=Q(status=S.PENDING)),
            accepted=Count("pk", filter=Q(status=S.ACCEPTED)),
            scheduled=Count("pk", filter=Q(status=S.ACCEPTED, slot__isnull=False)),
            published=Count("pk", filter=Q(status=S.ACCEPTED, published_at__isnull=False)),
        )
    )
    slots = (
        Slot.objects.filter(event=event)
        .order_by()
        .aggregate(
            slots=Count("pk", filter=Q(is_break=False)), breaks=Count("pk", filter=Q(is_break=True))
        )
    )
    return {
        "participants": Participant.objects.filter(event=event).count(),
        "items": MarketItem.objects.filter(participant__event=event).count(),
        "blocks": MeetingBlock.objects.filter(event=event).count(),
        "tables": Table.objects.filter(event=event, is_active=True).count(),
        **meetings,
        **slots,
    }


class ManageView(ManagedBrokerageView):
    template_name = "brokerage/manage_overview.html"

    def page(self, request, event, form, status=200):
        return render(
            request,
            self.template_name,
            {"event": event, "form": form, "counts": _overview_counts(event)},
            status=status,
        )

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        settings = day_setup.brokerage_settings_for(event=event)
        return self.page(request, event, SettingsForm(instance=settings))

    def post(self, request, slug: str):
        event = self.managed_event(request, slug)
        settings = day_setup.brokerage_settings_for(event=event)
        form = SettingsForm(request.POST, instance=settings)
        if form.is_valid():
            try:
                day_setup.brokerage_settings_update(
                    event=event, **{name: form.cleaned_data[name] for name in form.Meta.fields}
                )
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("Settings saved."))
                return redirect("brokerage:manage", slug=event.slug)
        return self.page(request, event, form, status=400)


# --- blocks and slots ------------------------------------------------------------------


class BlocksView(ManagedBrokerageView):
    template_name = "brokerage/manage_blocks.html"

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        blocks = (
            MeetingBlock.objects.filter(event=event)
            .prefetch_related("slots")
            .annotate(
                live_meetings=Count(
                    "slots__meetings", filter=Q(slots__meetings__status__in=Meeting.LIVE_STATUSES)
                )
            )
        )
        busy = set(
            Meeting.objects.filter(event=event, status__in=Meeting.LIVE_STATUSES)
            .exclude(slot=None)
            .values_list("slot_id", flat=True)
        )
        return render(
            request,
            self.template_name,
            {"event": event, "blocks": blocks, "busy": busy, "form": BlockForm(event=event)},
        )


class BlockFormView(ManagedBrokerageView):
    """Add a block (no block_id) or change one."""

    template_name = "brokerage/manage_block_form.html"

    def block(self, event, block_id):
        if block_id is None:
            return None
        return get_object_or_404(MeetingBlock, event=event, pk=block_id)

    def page(self, request, event, block, form, status=200):
        return render(
            request,
            self.template_name,
            {"event": event, "block": block, "form": form},
            status=status,
        )

    def get(self, request, slug: str, block_id: int | None = None):
        event = self.managed_event(request, slug)
        block = self.block(event, block_id)
        return self.page(request, event, block, BlockForm(event=event, instance=block))

    def post(self, request, slug: str, block_id: int | None = None):
        event = self.managed_event(request, slug)
        block = self.block(event, block_id)
        form = BlockForm(request.POST, event=event, instance=block)
        if form.is_valid():
            data = form.cleaned_data
            fields = {name: data[name] for name in
                      ("name", "starts_at", "ends_at", "slot_minutes", "gap_minutes")}  # fmt: skip
            try:
                if block is None:
                    block = day_setup.block_create(event=event, **fields)
                else:
                    block = day_setup.block_update(block=block, **fields)
            except ValidationError as error:
                add_service_error(form, error)
            else:
                count = block.slots.count()
                messages.success(
                    request,
                    ngettext("Block saved: %(n)s slot.", "Block saved: %(n)s slots.", count)
                    % {"n": count},
                )
                return redirect("brokerage:manage_blocks", slug=event.slug)
        return self.page(request, event, block, form, status=400)


class BlockDeleteView(ManagedBrokerageView):
    def post(self, request, slug: str, block_id: int):
        event = self.managed_event(request, slug)
        block = get_object_or_404(MeetingBlock, event=event, pk=block_id)
        try:
            day_setup.block_delete(block=block)
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(request, _("Block deleted."))
        return redirect("brokerage:manage_blocks", slug=event.slug)


class SlotBreakView(ManagedBrokerageView):
    def post(self, request, slug: str, slot_id: int):
        event = self.managed_event(request, slug)
        slot = get_object_or_404(Slot, event=event, pk=slot_id)
        try:
            day_setup.slot_set_break(slot=slot, is_break=request.POST.get("is_break") == "1")
        except ValidationError as error:
            messages.error(request, _error_text(error))
        return redirect(
            reverse("brokerage:manage_blocks", args=[event.slug]) + f"#block-{slot.block_id}"
        )


# --- tables ----------------------------------------------------------------------------


class TablesView(ManagedBrokerageView):
    template_name = "brokerage/manage_tables.html"

    def page(self, request, event, *, form=None, numbered=None, status=200):
        tables = Table.objects.filter(event=event).annotate(
            live_meetings=Count("meetings", filter=Q(meetings__status__in=Meeting.LIVE_STATUSES))
        )
        return render(
            request,
            self.template_name,
            {
                "event": event,
                "tables": tables,
                "form": form or TableForm(),
                "numbered": numbered or NumberedTablesForm(),
            },
            status=status,
        )

    def get(self, request, slug: str):
        return self.page(request, self.managed_event(request, slug))


class TableCreateView(TablesView):
    def post(self, request, slug: str):
        event = self.managed_event(request, slug)
        form = TableForm(request.POST)
        if form.is_valid():
            try:
                day_setup.table_create(
                    event=event, name=form.cleaned_data["name"],
                    online_url=form.cleaned_data["online_url"],
                )  # fmt: skip
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("Table added."))
                return redirect("brokerage:manage_tables", slug=event.slug)
        return self.page(request, event, form=form, status=400)


class TablesNumberedView(TablesView):
    def post(self, request, slug: str):
        event = self.managed_event(request, slug)
        form = NumberedTablesForm(request.POST)
        if form.is_valid():
            try:
                tables = day_setup.tables_create_numbered(
                    event=event, count=form.cleaned_data["count"]
                )
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(
                    request,
                    ngettext("%(n)s table added.", "%(n)s tables added.", len(tables))
                    % {"n": len(tables)},
                )
                return redirect("brokerage:manage_tables", slug=event.slug)
        return self.page(request, event, numbered=form, status=400)


class TableEditView(ManagedBrokerageView):
    template_name = "brokerage/manage_table_form.html"

    def get(self, request, slug: str, table_id: int):
        event = self.managed_event(request, slug)
        table = get_object_or_404(Table, event=event, pk=table_id)
        form = TableForm(instance=table)
        return render(request, self.template_name, {"event": event, "table": table, "form": form})

    def post(self, request, slug: str, table_id: int):
        event = self.managed_event(request, slug)
        table = get_object_or_404(Table, event=event, pk=table_id)
        form = TableForm(request.POST, instance=table)
        if form.is_valid():
            try:
                day_setup.table_update(table=table, **form.cleaned_data)
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("Table saved."))
                return redirect("brokerage:manage_tables", slug=event.slug)
        return render(
            request,
            self.template_name,
            {"event": event, "table": table, "form": form},
            status=400,
        )


class TableDeleteView(ManagedBrokerageView):
    def post(self, request, slug: str, table_id: int):
        event = self.managed_event(request, slug)
        table = get_object_or_404(Table, event=event, pk=table_id)
        try:
            day_setup.table_delete(table=table)
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(request, _("Table deleted."))
        return redirect("brokerage:manage_tables", slug=event.slug)


# --- the scheduler ---------------------------------------------------------------------


@dataclass(frozen=True)
class BoundPart:
    key: str
    value: object
    explanation: str


def bound_parts(run: ScheduleRun) -> list[BoundPart]:
    """The parts of a run's upper bound, each with its meaning in words."""
    out = []
    for key, value in (run.bound_detail or {}).items():
        explanation = BOUND_PARTS.get(key)
        if explanation is None:
            explanation = key.replace("_", " ").capitalize()
        out.append(BoundPart(key=key, value=value, explanation=str(explanation)))
    return out


def _percentage(part: int, whole: int) -> str:
    if not whole:
        return "—"
    return f"{part / whole * 100:.1f} %"


def _unscheduled(event: Event, run: ScheduleRun | None):
    """Accepted meetings the schedule does not place: for an unpublished run, those not
    in its proposal; otherwise those without a slot."""
    accepted = Meeting.objects.filter(event=event, status=S.ACCEPTED)
    if run is not None and run.published_at is None and run.outcome != ScheduleRun.Outcome.FAILED:
        rows = accepted.exclude(pk__in=[row[0] for row in run.assignment or []])
        if not run.allow_moves:  # published meetings stay where they are
            rows = rows.exclude(slot__isnull=False, published_at__isnull=False)
    else:
        rows = accepted.filter(slot=None)
    return rows.select_related(*MEETING_RELATED[:2]).order_by("created_at", "pk")


def _reasons(event: Event, meetings: list[Meeting]) -> dict[int, str]:
    """Why each of these accepted meetings may have found no place, where it can be
    told: two more queries for the page, whatever its length."""
    people = {m.requester_id for m in meetings} | {m.recipient_id for m in meetings}
    blocks: dict[int, set[int]] = {pk: set() for pk in people}
    for pid, block_id in Participant.blocks.through.objects.filter(
        participant_id__in=people
    ).values_list("participant_id", "meetingblock_id"):
        blocks[pid].add(block_id)
    all_blocks = set(MeetingBlock.objects.filter(event=event).values_list("pk", flat=True))
    scheduled = dict(
        Participant.objects.filter(pk__in=people)
        .annotate(n=Count("seats", filter=Q(seats__meeting__status=S.ACCEPTED), distinct=True))
        .values_list("pk", "n")
    )
    caps = dict(Participant.objects.filter(pk__in=people).values_list("pk", "max_meetings"))
    out = {}
    for m in meetings:
        mine = blocks[m.requester_id] or all_blocks
        theirs = blocks[m.recipient_id] or all_blocks
        if not all_blocks:
            out[m.pk] = _("The event has no meeting blocks yet.")
        elif not mine & theirs:
            out[m.pk] = _("The two people attend no meeting block in common.")
        elif scheduled.get(m.requester_id, 0) >= caps.get(m.requester_id, 0):
            out[m.pk] = _("The requester already has as many meetings as they want.")
        elif scheduled.get(m.recipient_id, 0) >= caps.get(m.recipient_id, 0):
            out[m.pk] = _("The recipient already has as many meetings as they want.")
        else:
            out[m.pk] = _(
                "Every slot both attend is taken by their other meetings, or all tables are "
                "full then."
            )
    return out


def _mail_progress(run: ScheduleRun | None) -> dict | None:
    """How far the published run's agenda mail is (from the run's own row)."""
    if run is None:
        return None
    from matchmaking.brokerage.scheduling import schedule_mail_progress

    return schedule_mail_progress(run=run)


class ScheduleView(ManagedBrokerageView):
    template_name = "brokerage/manage_schedule.html"

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        settings = day_setup.brokerage_settings_for(event=event)
        run = ScheduleRun.objects.filter(event=event).select_related("started_by__profile").first()
        page_obj = paginate(request, _unscheduled(event, run), UNSCHEDULED_PER_PAGE)
        rows = list(page_obj.object_list)
        reasons = _reasons(event, rows) if rows else {}
        return render(
            request,
            self.template_name,
            {
                "event": event,
                "settings": settings,
                "run": run,
                "bound_parts": bound_parts(run) if run else [],
                "percentage": _percentage(run.scheduled, run.upper_bound) if run else "",
                "mail": _mail_progress(run),
                "form": ScheduleRunForm(),
                "page_obj": page_obj,
                "unscheduled": [(m, reasons.get(m.pk, "")) for m in rows],
                "querystring": querystring_without_page(request),
                "seconds_limit": SCHEDULER_SECONDS,
            },
        )


class ScheduleRunView(ManagedBrokerageView):
    """Runs the scheduler in the request (bounded by SCHEDULER_SECONDS of solving) and
    shows its proposal; nothing is published until the organiser presses Publish."""

    def post(self, request, slug: str):
        from matchmaking.brokerage import scheduling

        event = self.managed_event(request, slug)
        form = ScheduleRunForm(request.POST)
        form.is_valid()
        try:
            run = scheduling.schedule_run(
                event=event,
                by=request.user,
                allow_moves=bool(form.cleaned_data.get("allow_moves")),
                time_limit=SCHEDULER_SECONDS,
            )
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(
                request,
                _("The scheduler placed %(n)s of %(bound)s possible meetings. Publish to tell "
                  "the participants.") % {"n": run.scheduled, "bound": run.upper_bound},
            )  # fmt: skip
        return redirect("brokerage:manage_schedule", slug=event.slug)


class SchedulePublishView(ManagedBrokerageView):
    def post(self, request, slug: str):
        from matchmaking.brokerage import scheduling

        event = self.managed_event(request, slug)
        run = get_object_or_404(ScheduleRun, event=event, pk=posted_id(request, "run"))
        try:
            changed = scheduling.schedule_publish(run=run, by=request.user)
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(
                request,
                ngettext(
                    "Published: %(n)s meeting placed or moved; both people are told by e-mail.",
                    "Published: %(n)s meetings placed or moved; both people are told by e-mail.",
                    changed,
                )
                % {"n": changed},
            )
        return redirect("brokerage:manage_schedule", slug=event.slug)


# --- the table plan and check-in --------------------------------------------------------


def _placed_meetings(event: Event):
    return (
        Meeting.objects.filter(event=event, status=S.ACCEPTED)
        .exclude(slot=None)
        .select_related(*MEETING_RELATED)
    )


class TablePlanView(ManagedBrokerageView):
    """Who meets whom, per slot and table (printable), or for one table (?table=<id>)."""

    template_name = "brokerage/manage_table_plan.html"

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        tables = list(Table.objects.filter(event=event))
        slots = list(Slot.objects.filter(event=event).select_related("block"))
        table = None
        if request.GET.get("table"):
            value = request.GET["table"]
            table = next((t for t in tables if str(t.pk) == value), None)
            if table is None:
                raise Http404(_("No such table."))
        meetings = _placed_meetings(event)
        if table is not None:
            meetings = meetings.filter(table=table)
        cells = {(m.slot_id, m.table_id): m for m in meetings}
        shown_tables = [table] if table else [t for t in tables if t.is_active or any(
            key[1] == t.pk for key in cells)]  # fmt: skip
        grid = [(slot, [(t, cells.get((slot.pk, t.pk))) for t in shown_tables]) for slot in slots]
        no_table = [m for (slot_id, table_id), m in cells.items() if table_id is None]
        return render(
            request,
            self.template_name,
            {
                "event": event,
                "tables": tables,
                "shown_tables": shown_tables,
                "table": table,
                "grid": grid,
                "no_table": no_table,
                "count": len(cells),
            },
        )


def _current_slot(slots: list[Slot]) -> Slot | None:
    """The slot in progress, or else the next one, or else the last one."""
    now = timezone.now()
    for slot in slots:
        if slot.ends_at > now:
            return slot
    return slots[-1] if slots else None


class CheckinView(ManagedBrokerageView):
    """Per meeting of one slot (the current one unless ?slot=<id>): both names, the
    table and a "Started" button. Made for a phone at the hall's door."""

    template_name = "brokerage/manage_checkin.html"

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        slots = list(Slot.objects.filter(event=event, is_break=False))
        slot = None
        if request.GET.get("slot"):
            slot = next((s for s in slots if str(s.pk) == request.GET["slot"]), None)
            if slot is None:
                raise Http404(_("No such slot."))
        slot = slot or _current_slot(slots)
        meetings = []
        if slot is not None:
            meetings = list(
                _placed_meetings(event).filter(slot=slot).order_by("table__position", "table__pk")
            )
        return render(
            request,
            self.template_name,
            {
                "event": event,
                "slots": slots,
                "slot": slot,
                "meetings": meetings,
                "started": sum(1 for m in meetings if m.checked_in_at),
            },
        )


class CheckinMeetingView(ManagedBrokerageView):
    def post(self, request, slug: str, meeting_id: int):
        event = self.managed_event(request, slug)
        meeting = get_object_or_404(Meeting, event=event, pk=meeting_id)
        try:
            services.meeting_check_in(meeting=meeting, by=request.user)
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(request, _("Meeting marked as started."))
        url = reverse("brokerage:manage_checkin", args=[event.slug])
        if meeting.slot_id:
            url += f"?slot={meeting.slot_id}#meeting-{meeting.pk}"
        return redirect(url)


# --- after the day ---------------------------------------------------------------------


class FunnelView(ManagedBrokerageView):
    template_name = "brokerage/manage_funnel.html"

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        figures = funnel.funnel_for_event(event=event)
        return render(
            request,
            self.template_name,
            {
                "event": event,
                "funnel": figures,
                "stages": [funnel.STAGE_LABELS[s] for s in funnel.STAGES],
            },
        )


urlpatterns = [
    path("<slug:slug>/manage/", ManageView.as_view(), name="manage"),
    path("<slug:slug>/manage/blocks/", BlocksView.as_view(), name="manage_blocks"),
    path("<slug:slug>/manage/blocks/new/", BlockFormView.as_view(), name="manage_block_create"),
    path(
        "<slug:slug>/manage/blocks/<int:block_id>/edit/",
        BlockFormView.as_view(),
        name="manage_block_edit",
    ),
    path(
        "<slug:slug>/manage/blocks/<int:block_id>/delete/",
        BlockDeleteView.as_view(),
        name="manage_block_delete",
    ),
    path(
        "<slug:slug>/manage/slots/<int:slot_id>/break/",
        SlotBreakView.as_view(),
        name="manage_slot_break",
    ),
    path("<slug:slug>/manage/tables/", TablesView.as_view(), name="manage_tables"),
    path("<slug:slug>/manage/tables/new/", TableCreateView.as_view(), name="manage_table_create"),
    path(
        "<slug:slug>/manage/tables/numbered/",
        TablesNumberedView.as_view(),
        name="manage_tables_numbered",
    ),
    path(
        "<slug:slug>/manage/tables/<int:table_id>/edit/",
        TableEditView.as_view(),
        name="manage_table_edit",
    ),
    path(
        "<slug:slug>/manage/tables/<int:table_id>/delete/",
        TableDeleteView.as_view(),
        name="manage_table_delete",
    ),
    path("<slug:slug>/manage/schedule/", ScheduleView.as_view(), name="manage_schedule"),
    path(
        "<slug:slug>/manage/schedule/run/",
        ScheduleRunView.as_view(),
        name="manage_schedule_run",
    ),
    path(
        "<slug:slug>/manage/schedule/publish/",
        SchedulePublishView.as_view(),
        name="manage_schedule_publish",
    ),
    path("<slug:slug>/manage/table-plan/", TablePlanView.as_view(), name="manage_table_plan"),
    path("<slug:slug>/manage/checkin/", CheckinView.as_view(), name="manage_checkin"),
    path(
        "<slug:slug>/manage/checkin/<int:meeting_id>/",
        CheckinMeetingView.as_view(),
        name="manage_checkin_meeting",
    ),
    path("<slug:slug>/manage/funnel/", FunnelView.as_view(), name="manage_funnel"),
]
