import json

import django_filters
from allauth.account.decorators import reauthentication_required
from allauth.core import ratelimit
from django.contrib import messages
from django.contrib.auth import logout
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.csrf import csrf_exempt
from django.views.generic import TemplateView
from django.views.i18n import set_language
from django_countries import countries

from members import (
    api_tokens,
    contact,
    directory_version,
    languages,
    page_cache,
    preferences,
    privacy,
    selectors,
    services,
)
from members.filters import DirectoryFilter
from members.forms import (
    CHOICE_LISTS,
    AccountDeleteForm,
    ClusterTargetsForm,
    DirectoryFilterForm,
    GenderForm,
    MessagePreferencesForm,
    ProfileForm,
    TopicForm,
    add_service_error,
    directory_filter_html,
    profile_form_html,
)
from members.models import Organisation, Profile, User

PAGE_SIZE = 24


def paginate(request, queryset, per_page: int = PAGE_SIZE):
    return Paginator(queryset, per_page).get_page(request.GET.get("page"))


def querystring_without_page(request) -> str:
    params = request.GET.copy()
    params.pop("page", None)
    return params.urlencode()


def own_profile(user: User):
    """The signed-in person's profile: the one the middleware already loaded, if any."""
    try:
        return user.profile
    except Profile.DoesNotExist:
        return services.profile_ensure(user=user)


class HomeView(TemplateView):
    template_name = "home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        user = self.request.user
        if user.is_authenticated:
            context["profile"] = services.profile_ensure(user=user)
            context["my_clusters"] = selectors.clusters_for_user(user=user).order_by("name")
            context["managed_clusters"] = selectors.clusters_managed_by(user=user).order_by("name")
        context["clusters"] = selectors.cluster_list()
        return context


def _countries() -> list[tuple[str, str]]:
    return list(countries)


class DirectoryPageFilter(DirectoryFilter):
    # The countries as a callable: the filters are deep-copied for every request, and
    # copying 250 lazily translated names took most of the page's time.
    country = django_filters.ChoiceFilter(
        choices=_countries,
        label=DirectoryFilter.base_filters["country"].label,
        empty_label=DirectoryFilter.base_filters["country"].extra["empty_label"],
    )

    class Meta(DirectoryFilter.Meta):
        form = DirectoryFilterForm  # its long lists rendered from the shared cache


class DirectoryView(LoginRequiredMixin, View):
    def get(self, request):
        if not page_cache.enabled():
            body = self.render_body(request)
        else:
            body = page_cache.cached_html(
                name="directory",
                # The version changes with every write to what the page shows and to whom
                # (members.directory_version). What one sees depends on their own profile,
                # staff flag and clusters (all behind the version), and on which
                # memberships are in force today.
                parts=[
                    directory_version.current(),
                    request.user.pk,
                    timezone.localdate(),
                    sorted(request.GET.lists()),
                ],
                render=lambda: self.render_body(request),
            )
        return render(request, "members/directory.html", {"body": body})

    def render_body(self, request) -> str:
        queryset, is_member = selectors.directory_cards(viewer=request.user)
        directory_filter = DirectoryPageFilter(request.GET or None, queryset=queryset)
        lists = selectors.choice_lists()
        directory_filter.form.use_choice_lists(lists)
        if directory_filter.is_bound and not directory_filter.is_valid():
            results = queryset.none()
        else:
            results = directory_filter.qs
        context = {
            "filter_fields": directory_filter_html(form=directory_filter.form, choice_lists=lists),
            "is_member": is_member,
            "page_obj": paginate(request, results),
            "querystring": querystring_without_page(request),
        }
        return render_to_string("members/includes/directory_body.html", context, request)


class ProfileDetailView(LoginRequiredMixin, View):
    def get(self, request, pk: int):
        profile = selectors.profile_get_visible(viewer=request.user, pk=pk)
        if profile.user_id == request.user.pk:
            return redirect("members:me")
        refusal = contact.contact_refusal(sender=request.user, recipient_profile=profile)
        return render(
            request,
            "members/profile_detail.html",
            {
                "profile": profile,
                "can_contact": refusal is None,
                "contact_refusal": contact.refusal_text(refusal=refusal, name=profile.display_name)
                if refusal
                else "",
            },
        )


class ProfilePhotoView(LoginRequiredMixin, View):
    """Photos are personal data: served only to those who may see the profile."""

    def get(self, request, pk: int):
        profile = selectors.profile_get_visible(viewer=request.user, pk=pk)
        if not profile.photo:
            raise Http404(_("No photo."))
        response = FileResponse(profile.photo.open("rb"))
        response["Cache-Control"] = "private, max-age=3600"
        return response


class MyProfileView(LoginRequiredMixin, View):
    def get(self, request):
        services.profile_ensure(user=request.user)
        return render(
            request,
            "members/my_profile.html",
            {
                "profile": selectors.profile_for_owner(user=request.user),
                # The owner's own page is one of the two places a gender may be shown.
                "gender": privacy.gender_for_owner(user=request.user),
                "organiser_of": selectors.clusters_managed_by(user=request.user)
                if not request.user.is_staff
                else [],
            },
        )


class ProfileEditView(LoginRequiredMixin, View):
    template_name = "members/profile_edit.html"

    def get(self, request):
        profile = own_profile(request.user)
        lists = selectors.choice_lists(profile=profile)
        initial = {name: lists[f"chosen:{name}"] for name in CHOICE_LISTS}
        form = ProfileForm(instance=profile, initial=initial, choice_lists=lists)
        context = {"form": form, "form_html": profile_form_html(form)}
        return render(request, self.template_name, context)

    def post(self, request):
        profile = own_profile(request.user)
        form = ProfileForm(request.POST, request.FILES, instance=profile)
        if form.is_valid():
            try:
                services.profile_update(profile=profile, changes=form.changes())
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("Your profile is saved."))
                return redirect("members:me")
        return render(request, self.template_name, {"form": form}, status=400)


class GenderEditView(LoginRequiredMixin, View):
    template_name = "members/gender_edit.html"

    def get(self, request):
        record = privacy.gender_for_owner(user=request.user)
        initial = (
            {
                "gender": record.gender,
                "self_description": record.self_description,
                "statistics_consent": record.statistics_consent,
                "stage_consent": record.stage_consent,
            }
            if record
            else None
        )
        return render(request, self.template_name, {"form": GenderForm(initial=initial)})

    def post(self, request):
        form = GenderForm(request.POST)
        if form.is_valid():
            privacy.gender_set(
                user=request.user,
                gender=form.cleaned_data["gender"],
                self_description=form.cleaned_data["self_description"],
                statistics_consent=form.cleaned_data["statistics_consent"],
                stage_consent=form.cleaned_data["stage_consent"],
            )
            messages.success(request, _("Saved. Only you can see this."))
            return redirect("members:me")
        return render(request, self.template_name, {"form": form}, status=400)


class DataExportView(LoginRequiredMixin, View):
    def get(self, request):
        data = services.personal_data_export(user=request.user)
        response = HttpResponse(
            json.dumps(data, indent=2, ensure_ascii=False),
            content_type="application/json; charset=utf-8",
        )
        stamp = timezone.now().strftime("%Y%m%d")
        response["Content-Disposition"] = f'attachment; filename="clusterhub-my-data-{stamp}.json"'
        response["Cache-Control"] = "no-store"
        return response


def _makes_a_key(request) -> bool:
    return request.POST.get("action") != "revoke"


# A key outlives the session that made it: making one asks for the password again
# (allauth's reauthentication, rate-limited; a confirmation holds for a few minutes, signing
# in does not count); revoking needs nothing more.
@method_decorator(reauthentication_required(allow_get=True, enabled=_makes_a_key), "dispatch")
class ApiTokenView(LoginRequiredMixin, View):
    """A member creates, replaces or revokes their key for the JSON API."""

    template_name = "members/api_token.html"

    def get(self, request):
        token = api_tokens.api_token_for(user=request.user)
        return render(request, self.template_name, {"token": token, "new_key": None})

    def post(self, request):
        if request.POST.get("action") == "revoke":
            if api_tokens.api_token_revoke(user=request.user):
                messages.success(request, _("Your API token is revoked. It no longer works."))
            return redirect("members:api_token")
        token = api_tokens.api_token_create(user=request.user)
        # The key is shown once, in the answer to the request that made it.
        response = render(request, self.template_name, {"token": token, "new_key": token.key})
        response["Cache-Control"] = "no-store"
        return response


class MessagePreferencesView(LoginRequiredMixin, View):
    """Which optional messages I get; unsubscribe links point here afterwards."""

    template_name = "members/message_preferences.html"

    def get(self, request):
        current = preferences.preferences_for(user=request.user)
        initial = {
            "invitations": current.invitations,
            "reminders": current.reminders,
            "invitation_topics": list(current.invitation_topics.all()) if current.pk else [],
        }
        return render(
            request, self.template_name, {"form": MessagePreferencesForm(initial=initial)}
        )

    def post(self, request):
        form = MessagePreferencesForm(request.POST)
        if not form.is_valid():
            return render(request, self.template_name, {"form": form}, status=400)
        preferences.preferences_update(user=request.user, **form.cleaned_data)
        messages.success(request, _("Your message preferences are saved."))
        return redirect("members:message_preferences")


@method_decorator(csrf_exempt, name="dispatch")
class UnsubscribeView(View):
    """The link in optional mail. The signed token is the credential: no login, no CSRF.

    GET only asks (link scanners and previews open links); a POST from the page's button
    or a mail client's one-click request (RFC 8058) turns the kind off.
    """

    template_name = "members/unsubscribe.html"

    def request_for(self, token: str) -> preferences.Unsubscribe:
        unsubscribe = preferences.unsubscribe_from_token(token)
        if unsubscribe is None:
            raise Http404(_("This unsubscribe link is not valid."))
        return unsubscribe

    def page(self, request, unsubscribe: preferences.Unsubscribe, *, done: bool):
        response = render(
            request,
            self.template_name,
            {"kind": unsubscribe.kind, "done": done},
        )
        # The token is in the address: keep it out of Referer headers and caches.
        response["Referrer-Policy"] = "no-referrer"
        response["Cache-Control"] = "no-store"
        return response

    def get(self, request, token: str):
        return self.page(request, self.request_for(token), done=False)

    def post(self, request, token: str):
        unsubscribe = self.request_for(token)
        preferences.unsubscribe(user=unsubscribe.user, kind=unsubscribe.kind)
        if request.POST.get("List-Unsubscribe") == "One-Click":
            return HttpResponse(_("Unsubscribed."), content_type="text/plain; charset=utf-8")
        return self.page(request, unsubscribe, done=True)


class AccountDeleteView(LoginRequiredMixin, View):
    template_name = "members/account_delete.html"

    def get(self, request):
        return render(request, self.template_name, {"form": AccountDeleteForm(user=request.user)})

    def post(self, request):
        # The password asked for here draws on allauth's "reauthenticate" limit of this
        # account (ACCOUNT_RATE_LIMITS): a borrowed session guesses no faster than there.
        if not ratelimit.consume(request, action="reauthenticate", user=request.user):
            context = {"form": AccountDeleteForm(user=request.user), "too_many_attempts": True}
            return render(request, self.template_name, context, status=429)
        form = AccountDeleteForm(request.POST, user=request.user)
        if not form.is_valid():
            return render(request, self.template_name, {"form": form}, status=400)
        services.account_erase(user=request.user)
        logout(request)
        messages.success(request, _("Your account and personal data have been deleted."))
        return redirect("home")


class OrganisationListView(LoginRequiredMixin, View):
    def get(self, request):
        search = request.GET.get("q", "").strip()
        kind = request.GET.get("kind", "")
        if kind not in Organisation.Kind.values:
            kind = ""
        organisations = selectors.organisation_list(search=search, kind=kind)
        return render(
            request,
            "members/organisation_list.html",
            {
                "page_obj": paginate(request, organisations),
                "q": search,
                "kind": kind,
                "kinds": Organisation.Kind.choices,
                "querystring": querystring_without_page(request),
            },
        )


class OrganisationDetailView(LoginRequiredMixin, View):
    def get(self, request, slug: str):
        organisation = selectors.organisation_get(slug=slug)
        members = selectors.organisation_members_visible(
            viewer=request.user, organisation=organisation
        )
        return render(
            request,
            "members/organisation_detail.html",
            {"organisation": organisation, "page_obj": paginate(request, members)},
        )


class ClusterListView(LoginRequiredMixin, View):
    def get(self, request):
        current = selectors.active_memberships().filter(cluster=OuterRef("pk"))
        clusters = selectors.cluster_list().annotate(
            organisation_count=Coalesce(
                Subquery(
                    current.values("cluster").annotate(n=Count("pk")).values("n"),
                    output_field=IntegerField(),
                ),
                0,
            )
        )
        return render(request, "members/cluster_list.html", {"clusters": clusters})


class ClusterDetailView(LoginRequiredMixin, View):
    def get(self, request, slug: str):
        cluster = selectors.cluster_get(slug=slug)
        return render(
            request,
            "members/cluster_detail.html",
            {
                "cluster": cluster,
                "page_obj": paginate(request, selectors.cluster_organisations(cluster=cluster)),
                "can_manage": selectors.user_manages_cluster(user=request.user, cluster=cluster),
            },
        )


class ClusterManageView(LoginRequiredMixin, View):
    """The organisers' page of one cluster; 404 for everyone else."""

    template_name = "members/cluster_manage.html"

    TARGET_FIELDS = ("women_target_percent", "balanced_from_percent", "balanced_to_percent")

    def context(self, request, cluster, topic_form=None, targets_form=None):
        profiles = selectors.cluster_member_profiles(cluster=cluster)
        organisations = selectors.cluster_organisations(cluster=cluster).order_by()
        return {
            "cluster": cluster,
            "targets_form": targets_form
            or ClusterTargetsForm(initial={f: getattr(cluster, f) for f in self.TARGET_FIELDS}),
            "organisers": selectors.cluster_organisers(cluster=cluster),
            "member_count": profiles.count(),
            "organisation_count": organisations.count(),
            "kind_counts": [
                (Organisation.Kind(row["kind"]).label, row["n"])
                for row in organisations.values("kind")
                .annotate(n=Count("pk"))
                .order_by("-n", "kind")
            ],
            "page_obj": paginate(request, profiles, per_page=50),
            "topic_form": topic_form or TopicForm(),
            "recent_members": profiles.filter(
                Q(created_at__gte=timezone.now() - timezone.timedelta(days=30))
            ).count(),
        }

    def get(self, request, slug: str):
        cluster = selectors.cluster_get_managed(user=request.user, slug=slug)
        return render(request, self.template_name, self.context(request, cluster))

    def post(self, request, slug: str):
        cluster = selectors.cluster_get_managed(user=request.user, slug=slug)
        action = request.POST.get("action")
        if action == "add_topic":
            form = TopicForm(request.POST)
            if form.is_valid():
                try:
                    topic = services.topic_create(
                        name=form.cleaned_data["name"],
                        description=form.cleaned_data["description"],
                        created_by=request.user,
                    )
                except ValidationError as error:
                    form.add_error("name", error.message_dict.get("name", error.messages))
                else:
                    messages.success(request, _("Topic “%s” added.") % topic.name)
                    return redirect("members:cluster_manage", slug=cluster.slug)
            return render(
                request, self.template_name, self.context(request, cluster, form), status=400
            )
        if action == "set_targets":
            form = ClusterTargetsForm(request.POST)
            if form.is_valid():
                try:
                    services.cluster_targets_set(
                        cluster=cluster,
                        by=request.user,
                        **{name: form.cleaned_data[name] for name in self.TARGET_FIELDS},
                    )
                except ValidationError as error:
                    add_service_error(form, error)
                else:
                    messages.success(request, _("Gender balance targets saved."))
                    return redirect("members:cluster_manage", slug=cluster.slug)
            return render(
                request,
                self.template_name,
                self.context(request, cluster, targets_form=form),
                status=400,
            )
        if action == "add_organiser":
            email = request.POST.get("email", "").strip().lower()
            user = User.objects.filter(email__iexact=email, is_active=True).first()
            if user is None:
                messages.error(request, _("No active member has the address %s.") % email)
            else:
                try:
                    services.organiser_grant(cluster=cluster, user=user, granted_by=request.user)
                except PermissionDenied as error:
                    messages.error(request, str(error))
                else:
                    messages.success(request, _("%s is now an organiser.") % email)
            return redirect(reverse("members:cluster_manage", kwargs={"slug": cluster.slug}))
        messages.error(request, _("Unknown action."))
        return redirect("members:cluster_manage", slug=cluster.slug)


def language_switch(request):
    """The header's language switcher: Django's set_language, kept on the member's profile.

    Everyone gets the language cookie; a signed-in member's profile keeps the choice too, so
    their pages and their mail follow it on every device.
    """
    response = set_language(request)
    language = request.POST.get("language") if request.method == "POST" else None
    if request.user.is_authenticated and languages.supported(language):
        services.profile_set_language(user=request.user, language=language)
    return response
