"""What an organiser does on the site for a mentoring programme: author it, review the
applications, run and review the matching, publish it, and follow its health.

Every page answers 404 to anyone who does not manage the programme; every write goes
through `matchmaking.services`. Organisers never see a person's gender or gender
preference, nor a pair's goals, progress or meeting notes.
"""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views import View

from matchmaking import selectors, services
from matchmaking.models import Application, Match, PairRule, Programme
from matchmaking.organiser_forms import MatchEndForm, ProgrammeForm
from members import privacy
from members.forms import add_service_error
from members.models import Cluster
from members.selectors import clusters_managed_by, user_is_organiser
from members.views import paginate, querystring_without_page

APPLICATIONS_PER_PAGE = 50
PROPOSALS_PER_PAGE = 100
RUN_HISTORY = 10
MATCHED_STATUSES = (Match.Status.ACCEPTED, Match.Status.ACTIVE, Match.Status.COMPLETED)
# The next status an organiser may give a programme, with the button's words.
STATUS_ACTIONS = {
    Programme.Status.DRAFT: (Programme.Status.OPEN, gettext_lazy("Open for applications")),
    Programme.Status.OPEN: (Programme.Status.MATCHING, gettext_lazy("Close applications now")),
    Programme.Status.RUNNING: (Programme.Status.COMPLETED, gettext_lazy("Complete the programme")),
}


def posted_id(request, name: str) -> int:
    """An id from a POST form; anything but digits is no object (404), never a 500."""
    value = request.POST.get(name, "")
    if not value.isdigit():
        raise Http404(_("No such object."))
    return int(value)


def _error_text(error: ValidationError) -> str:
    return " ".join(error.messages)


def _count(model, *, filter: Q | None = None) -> Coalesce:
    """A correlated COUNT of `model` rows of the outer programme (no join fan-out)."""
    rows = model.objects.filter(programme_id=OuterRef("pk"))
    if filter is not None:
        rows = rows.filter(filter)
    counted = rows.order_by().values("programme_id").annotate(n=Count("pk")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _programmes_with_counts(*, user):
    return (
        selectors.programmes_managed_by(user=user)
        .annotate(
            n_applications=_count(Application),
            n_submitted=_count(Application, filter=Q(status=Application.Status.SUBMITTED)),
            n_matched=_count(Match, filter=Q(status__in=MATCHED_STATUSES)),
        )
        .prefetch_related("clusters")
        .order_by("-applications_open_at", "pk")
    )


class ManagedProgrammeView(LoginRequiredMixin, View):
    """Base of the organiser pages: the programme, if this person manages it; 404 otherwise."""

    def managed_programme(self, request, slug: str) -> Programme:
        return selectors.programme_get_managed(user=request.user, slug=slug)


def _manage_url(programme: Programme, name: str = "programme_manage") -> str:
    return reverse(f"matchmaking:{name}", kwargs={"slug": programme.slug})


# --- programmes ------------------------------------------------------------------------


class ProgrammeManageListView(LoginRequiredMixin, View):
    template_name = "matchmaking/organiser/programme_list.html"

    def get(self, request):
        programmes = _programmes_with_counts(user=request.user)
        return render(
            request,
            self.template_name,
            {
                "page_obj": paginate(request, programmes, 50),
                "may_create": user_is_organiser(user=request.user),
            },
        )


class ProgrammeCreateView(LoginRequiredMixin, View):
    template_name = "matchmaking/organiser/programme_form.html"

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and not user_is_organiser(user=request.user):
            raise Http404(_("Only organisers create programmes."))
        return super().dispatch(request, *args, **kwargs)

    def clusters(self, request):
        # Any cluster may co-organise; the service wants at least one of the organiser's.
        return Cluster.objects.order_by("name")

    def get(self, request):
        own = clusters_managed_by(user=request.user).order_by("name")
        form = ProgrammeForm(clusters=self.clusters(request), initial={"clusters": list(own[:1])})
        return render(request, self.template_name, {"form": form, "programme": None})

    def post(self, request):
        form = ProgrammeForm(request.POST, clusters=self.clusters(request))
        if form.is_valid():
            try:
                programme = services.programme_create(
                    by=request.user, fields=form.changes(), clusters=form.cleaned_data["clusters"]
                )
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(
                    request, _("Draft saved. Open it for applications when it is ready.")
                )
                return redirect(_manage_url(programme))
        return render(request, self.template_name, {"form": form, "programme": None}, status=400)


class ProgrammeEditView(ManagedProgrammeView):
    template_name = "matchmaking/organiser/programme_form.html"

    def clusters(self, request, programme: Programme):
        return Cluster.objects.order_by("name")

    def get(self, request, slug: str):
        programme = self.managed_programme(request, slug)
        form = ProgrammeForm(clusters=self.clusters(request, programme), instance=programme)
        return render(request, self.template_name, {"form": form, "programme": programme})

    def post(self, request, slug: str):
        programme = self.managed_programme(request, slug)
        form = ProgrammeForm(
            request.POST, clusters=self.clusters(request, programme), instance=programme
        )
        if form.is_valid():
            try:
                services.programme_update(
                    programme=programme,
                    by=request.user,
                    changes=form.changes(),
                    # Unchanged clusters are left alone: a co-organising cluster stays.
                    clusters=(
                        form.cleaned_data["clusters"] if "clusters" in form.changed_data else None
                    ),
                )
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("Saved."))
                return redirect(_manage_url(programme))
        context = {"form": form, "programme": programme}
        return render(request, self.template_name, context, status=400)


class ProgrammeManageView(ManagedProgrammeView):
    """The programme at a glance: its settings, its health, and what to do next."""

    template_name = "matchmaking/organiser/programme_manage.html"

    def get(self, request, slug: str):
        programme = self.managed_programme(request, slug)
        action = STATUS_ACTIONS.get(programme.status)
        if programme.status == Programme.Status.OPEN and programme.window_has_ended:
            action = None  # closed by the end of the window already
        return render(
            request,
            self.template_name,
            {
                "programme": programme,
                "clusters": programme.clusters.order_by("name"),
                "health": selectors.programme_health(programme=programme),
                "min_ratings": privacy.min_group_size(),
                "run": selectors.latest_run(programme=programme),
                "next_status": action[0] if action else "",
                "next_status_label": action[1] if action else "",
            },
        )


class ProgrammeStatusView(ManagedProgrammeView):
    def post(self, request, slug: str):
        programme = self.managed_programme(request, slug)
        try:
            programme = services.programme_set_status(
                programme=programme, by=request.user, status=request.POST.get("status", "")
            )
        except ValidationError as error:
            messages.error(request, _error_text(error))
        except ValueError:
            messages.error(request, _("Unknown status."))
        else:
            if programme.status == Programme.Status.MATCHING:
                text = _("Applications are closed: nobody can apply any more.")
            else:
                text = _("The programme is now: %(status)s.") % {
                    "status": programme.get_status_display()
                }
            messages.success(request, text)
        return redirect(_manage_url(programme))


# --- applications ----------------------------------------------------------------------


class ApplicationsView(ManagedProgrammeView):
    """Every application, with what a reviewer reads — never a gender or gender preference,
    nor whom an applicant would rather avoid."""

    template_name = "matchmaking/organiser/applications.html"

    def get(self, request, slug: str):
        programme = self.managed_programme(request, slug)
        role = request.GET.get("role", "")
        role = role if role in Application.Role.values else ""
        status = request.GET.get("status", "")
        status = status if status in Application.Status.values else ""
        applications = (
            selectors.applications_for_review(programme=programme, role=role, status=status)
            .defer("preferred_mentor_gender", "gender_may_be_matched")
            .order_by("created_at", "pk")
        )
        submitted = programme.applications.filter(status=Application.Status.SUBMITTED).count()
        return render(
            request,
            self.template_name,
            {
                "programme": programme,
                "page_obj": paginate(request, applications, APPLICATIONS_PER_PAGE),
                "querystring": querystring_without_page(request),
                "role": role,
                "status": status,
                "roles": Application.Role.choices,
                "statuses": Application.Status.choices,
                "submitted": submitted,
            },
        )


def _back_to_applications(request, programme: Programme):
    url = _manage_url(programme, "programme_applications")
    back = request.POST.get("next", "")
    return redirect(url + back if back.startswith("?") else url)


class ApplicationReviewView(ManagedProgrammeView):
    def post(self, request, slug: str, pk: int):
        programme = self.managed_programme(request, slug)
        application = get_object_or_404(
            Application.objects.select_related("programme"), pk=pk, programme=programme
        )
        decision = request.POST.get("decision")
        if decision not in ("approve", "reject"):
            messages.error(request, _("Approve or reject."))
            return _back_to_applications(request, programme)
        try:
            services.application_review(
                application=application, by=request.user, approve=decision == "approve"
            )
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            messages.success(
                request, _("Approved.") if decision == "approve" else _("Not accepted.")
            )
        return _back_to_applications(request, programme)


class ApplicationsApproveSubmittedView(ManagedProgrammeView):
    def post(self, request, slug: str):
        programme = self.managed_programme(request, slug)
        approved, failed = 0, 0
        submitted = programme.applications.filter(status=Application.Status.SUBMITTED)
        for application in submitted.select_related("programme").order_by("pk"):
            try:
                services.application_review(application=application, by=request.user, approve=True)
            except ValidationError:
                failed += 1
            else:
                approved += 1
        messages.success(
            request,
            ngettext("%d application approved.", "%d applications approved.", approved) % approved,
        )
        if failed:
            messages.error(
                request,
                ngettext(
                    "%d application could not be approved.",
                    "%d applications could not be approved.",
                    failed,
                )
                % failed,
            )
        return _back_to_applications(request, programme)


# --- matching --------------------------------------------------------------------------


class MatchingView(ManagedProgrammeView):
    """The latest run's certificate, its proposals and unplaced mentees, the pair rules,
    and the run history."""

    template_name = "matchmaking/organiser/matching.html"

    def get(self, request, slug: str):
        programme = self.managed_programme(request, slug)
        run = selectors.latest_run(programme=programme)
        rows = selectors.proposals(programme=programme)
        if programme.is_circles:
            rows = rows.order_by(
                "circle__name", "circle_id", "mentee__user__profile__display_name", "pk"
            )
        page_obj = paginate(request, rows, PROPOSALS_PER_PAGE)
        rules = list(selectors.pair_rules(programme=programme).order_by("kind", "pk"))
        kind_of = {(rule.mentor_id, rule.mentee_id): rule.kind for rule in rules}
        for match in page_obj.object_list:
            match.rule_kind = kind_of.get((match.mentor_id, match.mentee_id), "")
        unpublished_run = run is not None and run.published_at is None
        return render(
            request,
            self.template_name,
            {
                "programme": programme,
                "run": run,
                "page_obj": page_obj,
                "querystring": querystring_without_page(request),
                "rules": rules,
                "unplaced": selectors.unplaced_applications(run=run) if run else [],
                "history": selectors.run_history(programme=programme)[:RUN_HISTORY],
                "unpublished": Match.objects.filter(
                    programme=programme,
                    published_at__isnull=True,
                    status=Match.Status.PROPOSED,
                ).count(),
                "running_statuses": Match.RUNNING_STATUSES,
                "applications_open": programme.accepts_applications,
                # Applications that came in or changed since the run: publishing refuses.
                "changed_since_run": (
                    selectors.applications_changed_since(run=run) if unpublished_run else 0
                ),
            },
        )


class MatchingRunView(ManagedProgrammeView):
    def post(self, request, slug: str):
        programme = self.managed_programme(request, slug)
        try:
            run = services.programme_match_run(programme=programme, by=request.user)
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            text = _(
                "Matching done: %(placed)d of %(mentees)d mentees have a proposed mentor. "
                "Only organisers see these proposals until you publish them."
            ) % {"placed": run.placed, "mentees": run.mentees}
            if programme.accepts_applications:
                text += " " + _("Applications stay open.")
            messages.success(request, text)
        return redirect(_manage_url(programme, "programme_matching"))


class MatchingPublishView(ManagedProgrammeView):
    def post(self, request, slug: str):
        programme = self.managed_programme(request, slug)
        closes = programme.accepts_applications
        try:
            count = services.programme_publish(programme=programme, by=request.user)
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            text = (
                ngettext(
                    "%d proposal published: both people are told and asked to answer.",
                    "%d proposals published: both people are told and asked to answer.",
                    count,
                )
                % count
            )
            if closes:
                text += " " + _("Applications are now closed.")
            messages.success(request, text)
        return redirect(_manage_url(programme, "programme_matching"))


class PairRuleSetView(ManagedProgrammeView):
    def post(self, request, slug: str):
        programme = self.managed_programme(request, slug)
        mentor = get_object_or_404(
            Application, pk=posted_id(request, "mentor"), programme=programme
        )
        mentee = get_object_or_404(
            Application, pk=posted_id(request, "mentee"), programme=programme
        )
        kind = request.POST.get("kind", "")
        try:
            services.pair_rule_set(
                programme=programme, by=request.user, mentor=mentor, mentee=mentee, kind=kind
            )
        except ValidationError as error:
            messages.error(request, _error_text(error))
        else:
            if kind == PairRule.Kind.LOCK:
                messages.success(request, _("Locked: the pair is kept on every re-run."))
            else:
                messages.success(request, _("This pair will never be proposed."))
        return redirect(_manage_url(programme, "programme_matching"))


class PairRuleRemoveView(ManagedProgrammeView):
    def post(self, request, slug: str, pk: int):
        programme = self.managed_programme(request, slug)
        rule = get_object_or_404(
            PairRule.objects.select_related("programme"), pk=pk, programme=programme
        )
        services.pair_rule_remove(rule=rule, by=request.user)
        messages.success(request, _("Rule removed; it applies from the next run."))
        return redirect(_manage_url(programme, "programme_matching"))


class MatchEndView(ManagedProgrammeView):
    """End a running match early. The pair's goals, progress and notes are not shown."""

    template_name = "matchmaking/organiser/match_end.html"

    def match(self, programme: Programme, pk: int) -> Match:
        return get_object_or_404(
            Match.objects.select_related("mentor__user__profile", "mentee__user__profile").defer(
                "goals", "progress"
            ),
            pk=pk,
            programme=programme,
        )

    def page(self, request, programme, match, form, status=200):
        return render(
            request,
            self.template_name,
            {"programme": programme, "match": match, "form": form},
            status=status,
        )

    def get(self, request, slug: str, pk: int):
        programme = self.managed_programme(request, slug)
        return self.page(request, programme, self.match(programme, pk), MatchEndForm())

    def post(self, request, slug: str, pk: int):
        programme = self.managed_programme(request, slug)
        match = self.match(programme, pk)
        form = MatchEndForm(request.POST)
        if form.is_valid():
            try:
                services.match_end(
                    match=match,
                    by=request.user,
                    completed=False,
                    reason=form.cleaned_data["reason"],
                )
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(
                    request, _("The match has ended; both people are asked for their feedback.")
                )
                return redirect(_manage_url(programme, "programme_matching"))
        return self.page(request, programme, match, form, status=400)


urlpatterns = [
    path("manage/", ProgrammeManageListView.as_view(), name="manage_list"),
    path("manage/new/", ProgrammeCreateView.as_view(), name="programme_create"),
    path("manage/<slug:slug>/", ProgrammeManageView.as_view(), name="programme_manage"),
    path("manage/<slug:slug>/edit/", ProgrammeEditView.as_view(), name="programme_edit"),
    path("manage/<slug:slug>/status/", ProgrammeStatusView.as_view(), name="programme_status"),
    path(
        "manage/<slug:slug>/applications/",
        ApplicationsView.as_view(),
        name="programme_applications",
    ),
    path(
        "manage/<slug:slug>/applications/approve-submitted/",
        ApplicationsApproveSubmittedView.as_view(),
        name="applications_approve_submitted",
    ),
    path(
        "manage/<slug:slug>/applications/<int:pk>/review/",
        ApplicationReviewView.as_view(),
        name="application_review",
    ),
    path("manage/<slug:slug>/matching/", MatchingView.as_view(), name="programme_matching"),
    path("manage/<slug:slug>/matching/run/", MatchingRunView.as_view(), name="matching_run"),
    path(
        "manage/<slug:slug>/matching/publish/",
        MatchingPublishView.as_view(),
        name="matching_publish",
    ),
    path("manage/<slug:slug>/rules/", PairRuleSetView.as_view(), name="pair_rule_set"),
    path(
        "manage/<slug:slug>/rules/<int:pk>/delete/",
        PairRuleRemoveView.as_view(),
        name="pair_rule_remove",
    ),
    path(
        "manage/<slug:slug>/matches/<int:pk>/end/",
        MatchEndView.as_view(),
        name="organiser_match_end",
    ),
]
