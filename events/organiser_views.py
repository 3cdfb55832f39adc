"""What an organiser does on the site for an event: author it, run its registrations,
check people in and import attendance.

Every page answers 404 to anyone who does not manage the event; every write goes through
`events.authoring` or `events.services`.
"""

import csv
import io
import zoneinfo
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, OuterRef, Q, Subquery
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views import View

from events import (
    attendance,
    attendance_jobs,
    authoring,
    discovery,
    notify,
    selectors,
    services,
)
from events.forms import (
    AttendanceImportForm,
    EventForm,
    InvitationForm,
    SessionForm,
    StageRoleForm,
)
from events.models import Event, Registration, Session, StageRole
from members import imports
from members.selectors import clusters_managed_by, profiles_visible_to, user_is_organiser
from members.views import paginate, querystring_without_page
from notifications.selectors import delivery_summary
from notifications.services import outbox_retry_failed

Status = Registration.Status
CHECKIN_RESULTS = 50


def posted_id(request, name: str) -> int:
    """An id from a POST form; anything but digits is no object (404), never a 500."""
    value = request.POST.get(name, "")
    if not value.isdigit():
        raise Http404(_("No such object."))
    return int(value)


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


class ManagedEventView(LoginRequiredMixin, View):
    """Base of the organiser pages: the event, if this person manages it; 404 otherwise."""

    def managed_event(self, request, slug: str) -> Event:
        return selectors.event_get_managed(user=request.user, slug=slug)


# --- authoring -------------------------------------------------------------------------


class EventCreateView(LoginRequiredMixin, View):
    template_name = "events/organiser/event_form.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not user_is_organiser(user=request.user):
            raise Http404(_("Only organisers create events."))
        return super().dispatch(request, *args, **kwargs)

    def get(self, request):
        form = EventForm(initial={"clusters": list(clusters_managed_by(user=request.user)[:1])})
        return render(request, self.template_name, {"form": form, "event": None})

    def post(self, request):
        form = EventForm(request.POST)
        if form.is_valid():
            try:
                event = authoring.event_create(
                    by=request.user,
                    fields=form.changes(),
                    clusters=form.cleaned_data["clusters"],
                    topics=form.cleaned_data["topics"],
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("Draft saved. Publish it when it is ready."))
                return redirect("events:dashboard", slug=event.slug)
        return render(request, self.template_name, {"form": form, "event": None}, status=400)


class EventEditView(ManagedEventView):
    template_name = "events/organiser/event_form.html"

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        form = EventForm(instance=event)
        return render(request, self.template_name, {"form": form, "event": event})

    def post(self, request, slug: str):
        event = self.managed_event(request, slug)
        form = EventForm(request.POST, instance=event)
        if form.is_valid():
            try:
                authoring.event_update(
                    event=event,
                    by=request.user,
                    changes=form.changes(),
                    clusters=form.cleaned_data["clusters"],
                    topics=form.cleaned_data["topics"],
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("Saved."))
                return redirect("events:dashboard", slug=event.slug)
        return render(request, self.template_name, {"form": form, "event": event}, status=400)


class EventPublishView(ManagedEventView):
    def post(self, request, slug: str):
        event = self.managed_event(request, slug)
        try:
            authoring.event_publish(event=event, by=request.user)
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(request, _("Published: members can now see and register."))
        return redirect("events:dashboard", slug=event.slug)


class EventDuplicateView(ManagedEventView):
    def post(self, request, slug: str):
        event = self.managed_event(request, slug)
        copy = authoring.event_duplicate(event=event, by=request.user)
        messages.success(request, _("This is a draft copy. Change its dates, then publish it."))
        return redirect("events:edit", slug=copy.slug)


class EventCancelView(ManagedEventView):
    template_name = "events/organiser/confirm.html"

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        counts = selectors.registration_counts(event=event)
        active = sum(counts[s] for s in Registration.ACTIVE_STATUSES)
        return render(
            request,
            self.template_name,
            {
                "event": event,
                "title": _("Cancel “%s”?") % event.title,
                "text": _(
                    "The event is cancelled for everyone. %(n)d people with an active "
                    "registration will be told by e-mail. This cannot be undone."
                )
                % {"n": active},
                "button": _("Cancel the event"),
            },
        )

    def post(self, request, slug: str):
        event = self.managed_event(request, slug)
        try:
            told = authoring.event_cancel(event=event, by=request.user)
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(request, _("The event is cancelled; %d people were told.") % told)
        return redirect("events:dashboard", slug=event.slug)


class SessionCreateView(ManagedEventView):
    template_name = "events/organiser/session_form.html"

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        form = SessionForm(event=event)
        return render(request, self.template_name, {"form": form, "event": event})

    def post(self, request, slug: str):
        event = self.managed_event(request, slug)
        form = SessionForm(request.POST, event=event)
        if form.is_valid():
            try:
                authoring.session_create(event=event, by=request.user, fields=form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("Session added."))
                return redirect("events:dashboard", slug=event.slug)
        return render(request, self.template_name, {"form": form, "event": event}, status=400)


class SessionEditView(ManagedEventView):
    template_name = "events/organiser/session_form.html"

    def get(self, request, slug: str, session_id: int):
        event = self.managed_event(request, slug)
        session = get_object_or_404(Session, pk=session_id, event=event)
        form = SessionForm(event=event, instance=session)
        return render(
            request, self.template_name, {"form": form, "event": event, "session": session}
        )

    def post(self, request, slug: str, session_id: int):
        event = self.managed_event(request, slug)
        session = get_object_or_404(Session, pk=session_id, event=event)
        form = SessionForm(request.POST, event=event, instance=session)
        if form.is_valid():
            try:
                authoring.session_update(
                    session=session, by=request.user, changes=form.cleaned_data
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("Session saved."))
                return redirect("events:dashboard", slug=event.slug)
        context = {"form": form, "event": event, "session": session}
        return render(request, self.template_name, context, status=400)


class SessionCancelView(ManagedEventView):
    template_name = "events/organiser/confirm.html"

    def get(self, request, slug: str, session_id: int):
        event = self.managed_event(request, slug)
        session = get_object_or_404(Session, pk=session_id, event=event)
        return render(
            request,
            self.template_name,
            {
                "event": event,
                "title": _("Cancel the session “%s”?") % session.title,
                "text": _("Everyone registered for this session will be told by e-mail."),
                "button": _("Cancel the session"),
            },
        )

    def post(self, request, slug: str, session_id: int):
        event = self.managed_event(request, slug)
        session = get_object_or_404(Session, pk=session_id, event=event)
        told = authoring.session_cancel(session=session, by=request.user)
        messages.success(request, _("The session is cancelled; %d people were told.") % told)
        return redirect("events:dashboard", slug=event.slug)


class StageView(ManagedEventView):
    """Speakers, panellists and moderators. A guest's gender is never listed here."""

    template_name = "events/organiser/stage.html"

    def form(self, request, event, data=None):
        profiles = (
            profiles_visible_to(viewer=request.user)
            .select_related("organisation")
            .order_by("display_name", "pk")
        )
        return StageRoleForm(data, event=event, profiles=profiles)

    def page(self, request, event, form, status=200):
        # The consented gender of a guest feeds aggregate statistics only; never loaded here.
        roles = event.stage_roles.select_related("profile__organisation", "session").defer(
            "guest_gender", "guest_gender_consent"
        )
        return render(
            request,
            self.template_name,
            {"event": event, "roles": roles, "form": form},
            status=status,
        )

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        return self.page(request, event, self.form(request, event))

    def post(self, request, slug: str):
        event = self.managed_event(request, slug)
        if request.POST.get("action") == "remove":
            role = get_object_or_404(StageRole, pk=posted_id(request, "role_id"), event=event)
            authoring.stage_role_remove(stage_role=role, by=request.user)
            messages.success(request, _("Removed."))
            return redirect("events:stage", slug=event.slug)
        form = self.form(request, event, request.POST)
        if form.is_valid():
            try:
                authoring.stage_role_add(event=event, by=request.user, **form.cleaned_data)
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("Added."))
                return redirect("events:stage", slug=event.slug)
        return self.page(request, event, form, status=400)


class InvitationsView(ManagedEventView):
    template_name = "events/organiser/invitations.html"

    def page(self, request, event, form, status=200):
        invitations = event.invitations.order_by("email")
        return render(
            request,
            self.template_name,
            {"event": event, "form": form, "page_obj": paginate(request, invitations, 100)},
            status=status,
        )

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        return self.page(request, event, InvitationForm())

    def post(self, request, slug: str):
        event = self.managed_event(request, slug)
        form = InvitationForm(request.POST)
        if form.is_valid():
            try:
                added = authoring.invitation_add(
                    event=event, by=request.user, emails=form.cleaned_data["emails"]
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("%d invitations added.") % len(added))
                return redirect("events:invitations", slug=event.slug)
        return self.page(request, event, form, status=400)


# --- registrations ---------------------------------------------------------------------


def _event_registrations(event: Event):
    # Place in line (1 = next), counted in the database: stored positions keep gaps.
    ahead_or_same = (
        Registration.objects.filter(
            event=event,
            session__isnull=True,
            status=Registration.Status.WAITLISTED,
            waitlist_position__lte=OuterRef("waitlist_position"),
        )
        .order_by()
        .values("event")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        Registration.objects.filter(event=event, session__isnull=True)
        .select_related("user__profile__organisation")
        .annotate(waitlist_rank=Subquery(ahead_or_same))
        .order_by("status", "waitlist_position", "created_at", "pk")
    )


class DashboardView(ManagedEventView):
    template_name = "events/organiser/dashboard.html"
    ACTIONS = ("approve", "decline", "promote", "move_up", "move_down", "cancel")

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        counts = selectors.registration_counts(event=event)
        registrations = _event_registrations(event)
        status = request.GET.get("status", "")
        if status in Status.values:
            registrations = registrations.filter(status=status)
        else:
            status = ""
        sessions = event.sessions.annotate(
            seats=Count(
                "registrations",
                filter=Q(registrations__status__in=Registration.SEAT_STATUSES),
            ),
            waiting=Count("registrations", filter=Q(registrations__status=Status.WAITLISTED)),
        )
        return render(
            request,
            self.template_name,
            {
                "event": event,
                "counts": counts,
                "free": (
                    max(0, event.capacity - selectors.seats_taken(event=event))
                    if event.capacity is not None
                    else None
                ),
                "page_obj": paginate(request, registrations, 50),
                "querystring": querystring_without_page(request),
                "status": status,
                "statuses": Status.choices,
                "sessions": sessions,
                # The mail about this event: registrations, changes, reminders, follow-ups.
                "delivery": delivery_summary(batch=notify.event_batch(event)),
                "retry_url": reverse("events:dashboard", kwargs={"slug": event.slug}),
            },
        )

    def post(self, request, slug: str):
        event = self.managed_event(request, slug)
        action = request.POST.get("action")
        if action == "retry_failed":
            count = outbox_retry_failed(batch=notify.event_batch(event))
            messages.success(
                request,
                ngettext(
                    "%d failed message is queued again.",
                    "%d failed messages are queued again.",
                    count,
                )
                % count,
            )
            url = reverse("events:dashboard", kwargs={"slug": event.slug})
            return redirect(url + "#h-messages")
        registration = get_object_or_404(
            Registration.objects.select_related("event", "session", "user"),
            pk=posted_id(request, "registration_id"),
            event=event,
        )
        try:
            if action == "approve":
                services.registration_approve(registration=registration, by=request.user)
            elif action == "decline":
                services.registration_decline(registration=registration, by=request.user)
            elif action == "promote":
                services.waitlist_promote(registration=registration, by=request.user)
            elif action in ("move_up", "move_down"):
                # Stored positions keep gaps after promotions; move by place in line.
                position = (discovery.waitlist_number(registration=registration) or 1) + (
                    -1 if action == "move_up" else 1
                )
                services.waitlist_move(
                    registration=registration, position=max(1, position), by=request.user
                )
            elif action == "cancel":
                services.registration_cancel(registration=registration, by=request.user)
            else:
                messages.error(request, _("Unknown action."))
                return redirect("events:dashboard", slug=event.slug)
        except (services.RegistrationError, PermissionDenied) as error:
            messages.error(request, str(error))
        else:
            messages.success(request, _("Done."))
        url = reverse("events:dashboard", kwargs={"slug": event.slug})
        back = request.POST.get("next", "")
        return redirect(url + back if back.startswith("?") else url)


def _csv_safe(value) -> str:
    """Spreadsheets run cells that start with = + - @ as formulas; defuse them."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


class ExportCsvView(ManagedEventView):
    """The registration list. There is no gender column, and there never will be."""

    COLUMNS = (
        gettext_lazy("name"),
        gettext_lazy("organisation"),
        gettext_lazy("e-mail"),
        gettext_lazy("status"),
        gettext_lazy("registered at"),
        gettext_lazy("checked in at"),
    )

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        zone = zoneinfo.ZoneInfo(event.timezone)

        def local(value):
            return timezone.localtime(value, zone).isoformat(timespec="minutes") if value else ""

        buffer = io.StringIO()
        writer = csv.writer(buffer)
        writer.writerow([str(column) for column in self.COLUMNS])
        for registration in _event_registrations(event).order_by("created_at", "pk"):
            profile = getattr(registration.user, "profile", None)
            writer.writerow(
                [
                    _csv_safe(profile.display_name if profile else ""),
                    _csv_safe(
                        profile.organisation.name if profile and profile.organisation else ""
                    ),
                    _csv_safe(registration.user.email),
                    registration.get_status_display(),
                    local(registration.created_at),
                    local(registration.checked_in_at),
                ]
            )
        response = HttpResponse(
            "\ufeff" + buffer.getvalue(), content_type="text/csv; charset=utf-8"
        )
        response["Content-Disposition"] = f'attachment; filename="{event.slug}-registrations.csv"'
        response["Cache-Control"] = "no-store"
        return response


# --- check-in --------------------------------------------------------------------------


def _checkin_counts(event: Event) -> dict[str, int]:
    counts = selectors.registration_counts(event=event)
    return {
        "attended": counts[Status.ATTENDED],
        "expected": counts[Status.CONFIRMED] + counts[Status.ATTENDED],
        "confirmed": counts[Status.CONFIRMED],
    }


class CheckinView(ManagedEventView):
    """Phone-first: search, one tap to check someone in (or undo), counts always on top."""

    template_name = "events/organiser/checkin.html"

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        q = request.GET.get("q", "").strip()
        people = (
            _event_registrations(event)
            .filter(status__in=[Status.CONFIRMED, Status.ATTENDED])
            .order_by("user__profile__display_name", "pk")
        )
        if q:
            people = people.filter(
                Q(user__profile__display_name__icontains=q)
                | Q(user__profile__organisation__name__icontains=q)
                | Q(user__email__icontains=q)
            )
        return render(
            request,
            self.template_name,
            {
                "event": event,
                "q": q,
                "people": people[:CHECKIN_RESULTS],
                "more": people[CHECKIN_RESULTS : CHECKIN_RESULTS + 1].exists(),
                "counts": _checkin_counts(event),
            },
        )

    def post(self, request, slug: str):
        event = self.managed_event(request, slug)
        registration = get_object_or_404(
            Registration.objects.select_related("event"),
            pk=posted_id(request, "registration_id"),
            event=event,
            session__isnull=True,
        )
        attended = request.POST.get("attended") != "0"
        error = ""
        try:
            registration = services.attendance_mark(
                registration=registration, by=request.user, attended=attended
            )
        except services.RegistrationError as exc:
            error = str(exc)
        if "application/json" in request.headers.get("Accept", ""):
            return JsonResponse(
                {
                    "ok": not error,
                    "error": error,
                    "status": registration.status,
                    "counts": _checkin_counts(event),
                },
                status=400 if error else 200,
            )
        if error:
            messages.error(request, error)
        url = reverse("events:checkin", kwargs={"slug": event.slug})
        q = request.POST.get("q", "").strip()
        if q:
            url += "?" + urlencode({"q": q})
        return redirect(url)


class CheckinScanView(ManagedEventView):
    """Where a participant's QR code leads: their check-in card, for organisers only."""

    template_name = "events/organiser/checkin_person.html"

    def get(self, request, slug: str, token: str):
        event = self.managed_event(request, slug)
        registration_id = attendance.checkin_registration_id(token)
        if registration_id is None:
            raise Http404(_("Unknown check-in code."))
        registration = get_object_or_404(
            Registration.objects.select_related("user__profile__organisation"),
            pk=registration_id,
            event=event,
            session__isnull=True,
        )
        return render(
            request,
            self.template_name,
            {"event": event, "registration": registration, "counts": _checkin_counts(event)},
        )


class MyQrView(LoginRequiredMixin, View):
    """A participant's own check-in code, for their confirmed registration."""

    template_name = "events/organiser/my_qr.html"

    def get(self, request, slug: str):
        registration = (
            Registration.objects.select_related("event")
            .filter(
                event__slug=slug,
                user=request.user,
                session__isnull=True,
                status__in=[Status.CONFIRMED, Status.ATTENDED],
            )
            .first()
        )
        if registration is None:
            raise Http404(_("No confirmed registration."))
        event = registration.event
        token = attendance.checkin_token(registration_id=registration.pk)
        url = settings.SITE_URL + reverse(
            "events:checkin_scan", kwargs={"slug": event.slug, "token": token}
        )
        response = render(
            request,
            self.template_name,
            {
                "event": event,
                "registration": registration,
                "svg": attendance.qr_svg(data=url, title=_("Check-in code")),
            },
        )
        response["Cache-Control"] = "private, no-store"
        return response


class AttendanceImportView(ManagedEventView):
    """Upload a participant list: checked at once, imported in the background."""

    template_name = "events/organiser/attendance_import.html"

    def page(self, request, event, form, *, status=200):
        context = {
            "event": event,
            "form": form,
            "jobs": attendance_jobs.attendance_jobs_recent(user=request.user, event=event),
            "max_rows": f"{settings.IMPORT_MAX_ROWS:,}",
            "max_size": imports.max_size_text(),
        }
        return render(request, self.template_name, context, status=status)

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        return self.page(request, event, AttendanceImportForm())

    def post(self, request, slug: str):
        event = self.managed_event(request, slug)
        form = AttendanceImportForm(request.POST, request.FILES)
        if form.is_valid():
            try:
                job = attendance_jobs.attendance_import_queue(
                    event=event,
                    by=request.user,
                    file_name=request.FILES["file"].name,
                    content=form.cleaned_data["file"],
                )
            except ValidationError as error:
                form.add_error("file", error)
            else:
                return redirect("events:attendance_import_job", slug=event.slug, job_id=job.pk)
        return self.page(request, event, form, status=400)


class AttendanceImportJobView(ManagedEventView):
    """An attendance import's progress, then its result; only for whoever started it
    (and staff). The page reloads itself while the import runs."""

    template_name = "events/organiser/attendance_import_job.html"

    def get(self, request, slug: str, job_id: int):
        event = self.managed_event(request, slug)
        job = attendance_jobs.attendance_job_get(user=request.user, event=event, job_id=job_id)
        return render(request, self.template_name, {"event": event, "job": job})

    def post(self, request, slug: str, job_id: int):
        event = self.managed_event(request, slug)
        job = attendance_jobs.attendance_job_get(user=request.user, event=event, job_id=job_id)
        if request.POST.get("action") == "retry":
            try:
                attendance_jobs.attendance_import_retry(job=job, by=request.user)
            except ValidationError as error:
                messages.error(request, _error_text(error))
        return redirect("events:attendance_import_job", slug=event.slug, job_id=job.pk)


urlpatterns = [
    path("new/", EventCreateView.as_view(), name="create"),
    path("<slug:slug>/edit/", EventEditView.as_view(), name="edit"),
    path("<slug:slug>/publish/", EventPublishView.as_view(), name="publish"),
    path("<slug:slug>/duplicate/", EventDuplicateView.as_view(), name="duplicate"),
    path("<slug:slug>/cancel-event/", EventCancelView.as_view(), name="cancel_event"),
    path("<slug:slug>/sessions/new/", SessionCreateView.as_view(), name="session_create"),
    path(
        "<slug:slug>/sessions/<int:session_id>/edit/",
        SessionEditView.as_view(),
        name="session_edit",
    ),
    path(
        "<slug:slug>/sessions/<int:session_id>/cancel-session/",
        SessionCancelView.as_view(),
        name="session_cancel_organiser",
    ),
    path("<slug:slug>/speakers/", StageView.as_view(), name="stage"),
    path("<slug:slug>/manage/", DashboardView.as_view(), name="dashboard"),
    path("<slug:slug>/manage/registrations.csv", ExportCsvView.as_view(), name="export_csv"),
    path("<slug:slug>/checkin/", CheckinView.as_view(), name="checkin"),
    path("<slug:slug>/checkin/<str:token>/", CheckinScanView.as_view(), name="checkin_scan"),
    path("<slug:slug>/qr/", MyQrView.as_view(), name="my_qr"),
    path(
        "<slug:slug>/attendance-import/",
        AttendanceImportView.as_view(),
        name="attendance_import",
    ),
    path(
        "<slug:slug>/attendance-import/<int:job_id>/",
        AttendanceImportJobView.as_view(),
        name="attendance_import_job",
    ),
    path("<slug:slug>/invitations/", InvitationsView.as_view(), name="invitations"),
]
