"""The member-facing mentoring pages: programmes, applying, my mentoring, the match page."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import ValidationError
from django.db.models import Case, IntegerField, Value, When
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from matchmaking import selectors, services
from matchmaking.forms import (
    ApplicationForm,
    EndForm,
    FeedbackForm,
    GoalsForm,
    MeetingLogForm,
    RespondForm,
)
from matchmaking.models import Application, Feedback, Match, Programme
from members.forms import add_service_error
from members.models import User
from members.selectors import profiles_visible_to
from members.views import paginate, querystring_without_page

PAGE_SIZE = 20
FEEDBACK_STATUSES = (Match.Status.ACTIVE, Match.Status.COMPLETED, Match.Status.ENDED_EARLY)
# The partner's e-mail address is shown once both have said yes.
CONTACT_STATUSES = (
    Match.Status.ACCEPTED,
    Match.Status.ACTIVE,
    Match.Status.COMPLETED,
    Match.Status.ENDED_EARLY,
)


def _say(request, error: ValidationError) -> None:
    for text in error.messages:
        messages.error(request, text)


# --- programmes ------------------------------------------------------------------------


class ProgrammeListView(LoginRequiredMixin, View):
    def get(self, request):
        programmes = selectors.programmes_visible_to(user=request.user).order_by(
            Case(
                When(status=Programme.Status.OPEN, then=Value(0)),
                default=Value(1),
                output_field=IntegerField(),
            ),
            "-applications_open_at",
            "pk",
        )
        page_obj = paginate(request, programmes, per_page=PAGE_SIZE)
        page_obj.object_list = list(page_obj.object_list)
        mine = dict(
            Application.objects.filter(
                user=request.user, programme__in=[p.pk for p in page_obj.object_list]
            ).values_list("programme_id", "status")
        )
        for programme in page_obj.object_list:
            programme.accepting = programme.accepts_applications
            status = mine.get(programme.pk)
            programme.my_status_label = Application.Status(status).label if status else ""
        return render(
            request,
            "matchmaking/programme_list.html",
            {"page_obj": page_obj, "querystring": querystring_without_page(request)},
        )


class ProgrammeDetailView(LoginRequiredMixin, View):
    def get(self, request, slug: str):
        programme = selectors.programme_get_visible(user=request.user, slug=slug)
        application = selectors.application_of(user=request.user, programme=programme)
        accepting = programme.accepts_applications
        may_apply = (
            accepting
            and application is None
            and selectors.user_may_apply(user=request.user, programme=programme)
        )
        return render(
            request,
            "matchmaking/programme_detail.html",
            {
                "programme": programme,
                "application": application,
                "accepting": accepting,
                "may_apply": may_apply,
                "may_withdraw": bool(
                    application and application.status != Application.Status.WITHDRAWN
                ),
                "my_matches": selectors.matches_of(user=request.user).filter(programme=programme),
            },
        )


class ApplyView(LoginRequiredMixin, View):
    template_name = "matchmaking/application_form.html"

    def setup_apply(self, request, slug: str, role: str):
        if role not in Application.Role.values:
            raise Http404(_("No such role."))
        programme = selectors.programme_get_visible(user=request.user, slug=slug)
        if selectors.application_of(user=request.user, programme=programme) is not None:
            messages.info(request, _("You have already applied to this programme."))
            return programme, redirect(programme.get_absolute_url())
        if not programme.accepts_applications:
            messages.error(request, _("Applications to this programme are not open."))
            return programme, redirect(programme.get_absolute_url())
        if not selectors.user_may_apply(user=request.user, programme=programme):
            messages.error(request, _("This programme is for members of its clusters."))
            return programme, redirect(programme.get_absolute_url())
        return programme, None

    def form(self, request, programme: Programme, role: str, **kwargs) -> ApplicationForm:
        return ApplicationForm(
            programme=programme,
            role=role,
            avoid_choices=selectors.avoid_choices(user=request.user, programme=programme),
            **kwargs,
        )

    def render_form(self, request, programme, role, form, status=200):
        return render(
            request,
            self.template_name,
            {
                "programme": programme,
                "role": role,
                "role_label": Application.Role(role).label,
                "form": form,
            },
            status=status,
        )

    def get(self, request, slug: str, role: str):
        programme, refused = self.setup_apply(request, slug, role)
        if refused:
            return refused
        initial = services.application_defaults(user=request.user, role=role)
        if initial.get("country"):
            initial["country"] = str(initial["country"])
        form = self.form(request, programme, role, initial=initial)
        return self.render_form(request, programme, role, form)

    def post(self, request, slug: str, role: str):
        programme, refused = self.setup_apply(request, slug, role)
        if refused:
            return refused
        form = self.form(request, programme, role, data=request.POST)
        if not form.is_valid():
            return self.render_form(request, programme, role, form, status=400)
        try:
            services.application_submit(
                programme=programme, user=request.user, role=role, **form.submission()
            )
        except ValidationError as error:
            add_service_error(form, error)
            return self.render_form(request, programme, role, form, status=400)
        messages.success(
            request,
            _("Your application is in. The organisers review it; we will e-mail you."),
        )
        return redirect("matchmaking:my_mentoring")


class ApplicationWithdrawView(LoginRequiredMixin, View):
    http_method_names = ["post"]

    def post(self, request, pk: int):
        application = get_object_or_404(
            Application.objects.select_related("programme"), pk=pk, user=request.user
        )
        services.application_withdraw(application=application, by=request.user)
        messages.success(request, _("Your application is withdrawn."))
        return redirect(application.programme.get_absolute_url())


class MyMentoringView(LoginRequiredMixin, View):
    def get(self, request):
        matches = list(selectors.matches_of(user=request.user))
        for match in matches:
            _annotate_side(match, request.user)
        return render(
            request,
            "matchmaking/my_mentoring.html",
            {"applications": selectors.applications_of_user(user=request.user), "matches": matches},
        )


# --- the match -------------------------------------------------------------------------


def _annotate_side(match: Match, user: User) -> None:
    """Which side I am on, who my partner is and whether my answer is awaited."""
    i_mentor = match.mentor.user_id == user.pk
    mine, theirs = (match.mentor, match.mentee) if i_mentor else (match.mentee, match.mentor)
    match.i_am_mentor = i_mentor
    match.my_role_label = Application.Role(mine.role).label
    match.partner_application = theirs
    match.partner_profile = getattr(theirs.user, "profile", None)
    match.partner_name = (
        match.partner_profile.display_name if match.partner_profile else _("A member")
    )
    match.my_answer = match.mentor_answer if i_mentor else match.mentee_answer
    match.my_answer_label = Match.Answer(match.my_answer).label
    match.awaiting_me = (
        match.is_published
        and match.status == Match.Status.PROPOSED
        and match.my_answer == Match.Answer.PENDING
        and (match.respond_by is None or timezone.now() <= match.respond_by)
    )


def _match_context(request, match: Match, **forms) -> dict:
    user = request.user
    _annotate_side(match, user)
    partner = match.partner_profile
    running = match.status in Match.RUNNING_STATUSES
    circle = match.circle
    circle_people: list[str] = []
    if circle is not None:
        members = selectors.circle_members(circle=circle)
        names = []
        for row in members:
            if row.mentee.user_id != user.pk:
                profile = getattr(row.mentee.user, "profile", None)
                names.append(profile.display_name if profile else _("A member"))
        circle_people = sorted(set(names))
    return {
        "match": match,
        "programme": match.programme,
        "partner": partner,
        "partner_organisation": match.partner_application.organisation,
        "partner_profile_visible": bool(
            partner and profiles_visible_to(viewer=user).filter(pk=partner.pk).exists()
        ),
        "show_contact": match.status in CONTACT_STATUSES,
        "running": running,
        "circle": circle,
        "circle_people": circle_people,
        "next_meeting": (
            selectors.circle_next_meeting(circle=circle) if circle is not None and running else None
        ),
        "meetings": (
            match.meetings.select_related("logged_by__profile")
            if match.status in CONTACT_STATUSES
            else []
        ),
        "my_feedback": Feedback.objects.filter(match=match, author=user).first(),
        "may_give_feedback": match.status in FEEDBACK_STATUSES,
        "meeting_form": forms.get("meeting_form")
        or MeetingLogForm(initial={"met_on": timezone.localdate()}),
        "goals_form": forms.get("goals_form")
        or GoalsForm(initial={"goals": match.goals, "progress": match.progress}),
        "end_form": forms.get("end_form") or EndForm(),
        "feedback_form": forms.get("feedback_form") or FeedbackForm(),
    }


class MatchDetailView(LoginRequiredMixin, View):
    def get(self, request, pk: int):
        match = selectors.match_get_for_participant(user=request.user, pk=pk)
        return render(request, "matchmaking/match_detail.html", _match_context(request, match))


class MatchActionView(LoginRequiredMixin, View):
    """POST only: read the form, call the one service, come back to the match page."""

    http_method_names = ["post"]
    form_class = None
    form_name = ""

    def post(self, request, pk: int):
        match = selectors.match_get_for_participant(user=request.user, pk=pk)
        form = self.form_class(request.POST)
        if form.is_valid():
            try:
                text = self.act(request, match=match, data=form.cleaned_data)
            except ValidationError as error:
                named = hasattr(error, "error_dict") and any(
                    name in form.fields for name in error.error_dict
                )
                if not named:
                    _say(request, error)
                    return redirect(match.get_absolute_url())
                add_service_error(form, error)
            else:
                messages.success(request, text)
                return redirect(match.get_absolute_url())
        context = _match_context(request, match, **{self.form_name: form})
        return render(request, "matchmaking/match_detail.html", context, status=400)

    def act(self, request, *, match: Match, data: dict) -> str:
        raise NotImplementedError


class MatchRespondView(MatchActionView):
    form_class, form_name = RespondForm, "respond_form"

    def act(self, request, *, match, data):
        match = services.match_respond(match=match, by=request.user, accept=data["accept"])
        if not data["accept"]:
            return _("You declined the match. The organisers will look for another.")
        if match.status == Match.Status.ACCEPTED:
            return _("You both accepted: the mentoring begins.")
        return _("You accepted. We will tell you when your partner answers.")


class MeetingLogView(MatchActionView):
    form_class, form_name = MeetingLogForm, "meeting_form"

    def act(self, request, *, match, data):
        services.meeting_log_add(
            match=match, by=request.user, met_on=data["met_on"], notes=data["notes"]
        )
        return _("Meeting logged.")


class MatchGoalsView(MatchActionView):
    form_class, form_name = GoalsForm, "goals_form"

    def act(self, request, *, match, data):
        services.match_update_goals(
            match=match, by=request.user, goals=data["goals"], progress=data["progress"]
        )
        return _("Goals and progress saved.")


class MatchEndView(MatchActionView):
    form_class, form_name = EndForm, "end_form"

    def act(self, request, *, match, data):
        services.match_end(
            match=match, by=request.user, completed=data["completed"], reason=data["reason"]
        )
        if data["completed"]:
            return _("The mentoring is marked as completed. Thank you!")
        return _("The mentoring has ended.")


class MatchFeedbackView(MatchActionView):
    form_class, form_name = FeedbackForm, "feedback_form"

    def act(self, request, *, match, data):
        services.feedback_submit(
            match=match, by=request.user, rating=data["rating"], comment=data["comment"]
        )
        return _("Thank you for your feedback.")


urlpatterns: list = [
    path("", ProgrammeListView.as_view(), name="programme_list"),
    path("mine/", MyMentoringView.as_view(), name="my_mentoring"),
    path(
        "applications/<int:pk>/withdraw/",
        ApplicationWithdrawView.as_view(),
        name="application_withdraw",
    ),
    path("matches/<int:pk>/", MatchDetailView.as_view(), name="match_detail"),
    path("matches/<int:pk>/respond/", MatchRespondView.as_view(), name="match_respond"),
    path("matches/<int:pk>/meetings/", MeetingLogView.as_view(), name="meeting_log"),
    path("matches/<int:pk>/goals/", MatchGoalsView.as_view(), name="match_goals"),
    path("matches/<int:pk>/end/", MatchEndView.as_view(), name="match_end"),
    path("matches/<int:pk>/feedback/", MatchFeedbackView.as_view(), name="match_feedback"),
    path("<slug:slug>/apply/<str:role>/", ApplyView.as_view(), name="apply"),
    # Last: every other path above would otherwise be read as a programme's slug.
    path("<slug:slug>/", ProgrammeDetailView.as_view(), name="programme_detail"),
]
