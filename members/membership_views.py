"""Pages of membership: a person's own affiliation, the requests page of organisation
admins and organisers, an organisation's people and domain rules, and a cluster's
member organisations. Every decision goes through `members/membership.py`."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views import View

from members import membership, selectors
from members.forms import (
    AffiliationRequestForm,
    ClusterMembershipForm,
    DomainRuleForm,
    add_service_error,
)
from members.models import Affiliation, ClusterMembership, Organisation, OrganisationDomain
from members.views import paginate


def _error_message(error: ValidationError) -> str:
    return " ".join(error.messages)


class MyOrganisationView(LoginRequiredMixin, View):
    """Where a person asks to join their organisation, sees the answer, withdraws or leaves."""

    template_name = "members/my_organisation.html"

    def context(self, request, form=None):
        current = selectors.affiliation_of(user=request.user)
        return {
            "current": current,
            "form": form or AffiliationRequestForm(),
            "history": selectors.affiliations_history(user=request.user).exclude(
                pk=getattr(current, "pk", None)
            ),
            "clusters": selectors.clusters_for_user(user=request.user).order_by("name"),
            "is_admin": bool(current and current.is_admin),
        }

    def get(self, request):
        return render(request, self.template_name, self.context(request))

    def post(self, request):
        action = request.POST.get("action")
        current = selectors.affiliation_of(user=request.user)
        if action == "request":
            form = AffiliationRequestForm(request.POST)
            if form.is_valid():
                try:
                    affiliation = membership.affiliation_request(
                        user=request.user, organisation=form.cleaned_data["organisation"]
                    )
                except ValidationError as error:
                    add_service_error(form, error)
                else:
                    if affiliation.status == Affiliation.Status.CONFIRMED:
                        messages.success(
                            request,
                            _("You are now a member of %s.") % affiliation.organisation.name,
                        )
                    else:
                        messages.success(
                            request,
                            _("Your request to join %s is sent; you will hear by e-mail.")
                            % affiliation.organisation.name,
                        )
                    return redirect("members:my_organisation")
            return render(request, self.template_name, self.context(request, form), status=400)
        if current is None or action not in {"withdraw", "leave"}:
            messages.error(request, _("There is nothing to change."))
            return redirect("members:my_organisation")
        try:
            if action == "withdraw":
                membership.affiliation_withdraw(affiliation=current, by=request.user)
                messages.success(request, _("Your request is withdrawn."))
            else:
                membership.affiliation_end(affiliation=current, by=request.user)
                messages.success(request, _("You have left %s.") % current.organisation.name)
        except ValidationError as error:
            messages.error(request, _error_message(error))
        return redirect("members:my_organisation")


class MembershipRequestsView(LoginRequiredMixin, View):
    """Pending requests for the organisations this person answers for; 404 for others."""

    template_name = "members/membership_requests.html"

    def organisations(self, request):
        organisations = selectors.organisations_decided_by(user=request.user)
        if not organisations.exists():
            raise Http404(_("No requests to answer."))
        return organisations

    def get(self, request):
        self.organisations(request)
        requests = selectors.pending_requests_for(user=request.user)
        return render(request, self.template_name, {"page_obj": paginate(request, requests, 50)})

    def post(self, request):
        self.organisations(request)
        decision = request.POST.get("decision")
        if decision not in {"confirm", "decline"}:
            messages.error(request, _("Choose confirm or decline."))
            return redirect("members:membership_requests")
        pending = selectors.pending_requests_for(user=request.user)
        ids = request.POST.getlist("affiliation")
        chosen = list(pending.filter(pk__in=[i for i in ids if i.isdigit()]))
        if not chosen:
            messages.error(request, _("That request is no longer pending."))
            return redirect("members:membership_requests")
        done = 0
        for affiliation in chosen:
            try:
                membership.affiliation_decide(
                    affiliation=affiliation, by=request.user, confirm=decision == "confirm"
                )
                done += 1
            except (ValidationError, PermissionDenied):
                continue  # answered meanwhile by someone else
        if decision == "confirm":
            messages.success(request, _("Confirmed: %d.") % done)
        else:
            messages.success(request, _("Declined: %d.") % done)
        return redirect("members:membership_requests")


def _organisation_for_decider(request, slug: str) -> Organisation:
    organisation = selectors.organisations_decided_by(user=request.user).filter(slug=slug).first()
    if organisation is None:
        raise Http404(_("No such organisation."))
    return organisation


class OrganisationPeopleView(LoginRequiredMixin, View):
    """An organisation's confirmed people, its admins and its domain rules, for its admins,
    the organisers of its clusters and staff; 404 for everyone else."""

    template_name = "members/organisation_people.html"

    def context(self, request, organisation, domain_form=None):
        return {
            "organisation": organisation,
            "page_obj": paginate(
                request, selectors.organisation_affiliations(organisation=organisation), 50
            ),
            "domains": organisation.domains.all(),
            "contacts": organisation.contacts.all(),
            "domain_form": domain_form or DomainRuleForm(),
            "pending_count": Affiliation.objects.filter(
                organisation=organisation, status=Affiliation.Status.REQUESTED
            ).count(),
            "log": selectors.membership_log(organisation=organisation)[:20],
        }

    def get(self, request, slug: str):
        organisation = _organisation_for_decider(request, slug)
        return render(request, self.template_name, self.context(request, organisation))

    def post(self, request, slug: str):
        organisation = _organisation_for_decider(request, slug)
        action = request.POST.get("action")
        if action == "add_domain":
            form = DomainRuleForm(request.POST)
            if form.is_valid():
                try:
                    rule = membership.domain_add(
                        organisation=organisation,
                        domain=form.cleaned_data["domain"],
                        by=request.user,
                    )
                except ValidationError as error:
                    form.add_error("domain", error)
                else:
                    messages.success(request, _("Addresses at %s now join at once.") % rule.domain)
                    return redirect("members:organisation_people", slug=slug)
            return render(
                request,
                self.template_name,
                self.context(request, organisation, domain_form=form),
                status=400,
            )
        if action == "remove_domain":
            rule = get_object_or_404(
                OrganisationDomain, organisation=organisation, pk=request.POST.get("rule") or 0
            )
            membership.domain_remove(rule=rule, by=request.user)
            messages.success(request, _("The rule for %s is removed.") % rule.domain)
            return redirect("members:organisation_people", slug=slug)
        affiliation = (
            selectors.organisation_affiliations(organisation=organisation)
            .filter(pk=request.POST.get("affiliation") or 0)
            .first()
        )
        if affiliation is None or action not in {"remove", "make_admin", "revoke_admin"}:
            messages.error(request, _("That person is no longer a member here."))
            return redirect("members:organisation_people", slug=slug)
        name = affiliation.user.profile.display_name
        try:
            if action == "remove":
                membership.affiliation_end(affiliation=affiliation, by=request.user)
                messages.success(request, _("%s is no longer a member.") % name)
            else:
                membership.affiliation_set_admin(
                    affiliation=affiliation, by=request.user, is_admin=action == "make_admin"
                )
                messages.success(request, _("Saved."))
        except ValidationError as error:
            messages.error(request, _error_message(error))
        return redirect("members:organisation_people", slug=slug)


class ClusterMembershipsView(LoginRequiredMixin, View):
    """A cluster's member organisations with status and dates, for its organisers."""

    template_name = "members/cluster_memberships.html"

    def context(self, request, cluster, form=None):
        memberships = selectors.cluster_memberships(cluster=cluster)
        return {
            "cluster": cluster,
            "page_obj": paginate(request, memberships, 100),
            "form": form or ClusterMembershipForm(),
            "statuses": ClusterMembership.Status.choices,
            "log": selectors.membership_log(cluster=cluster)[:20],
            "import_url": reverse("members:cluster_import", kwargs={"slug": cluster.slug}),
        }

    def get(self, request, slug: str):
        cluster = selectors.cluster_get_managed(user=request.user, slug=slug)
        return render(request, self.template_name, self.context(request, cluster))

    def post(self, request, slug: str):
        cluster = selectors.cluster_get_managed(user=request.user, slug=slug)
        form = ClusterMembershipForm(request.POST)
        if form.is_valid():
            try:
                membership.cluster_membership_set(
                    cluster=cluster, by=request.user, **form.cleaned_data
                )
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(
                    request, _("%s is saved.") % form.cleaned_data["organisation"].name
                )
                return redirect("members:cluster_memberships", slug=slug)
        return render(request, self.template_name, self.context(request, cluster, form), status=400)
