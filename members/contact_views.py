"""Pages of member-to-member contact: writing to a member, reporting a message, and the
organisers' list of reports. Every decision goes through `members/contact.py`; no page
shows the other person's address."""

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404
from django.shortcuts import redirect, render
from django.utils.translation import gettext as _
from django.views import View

from members import contact, selectors
from members.contact_forms import ContactMessageForm, ContactReportForm
from members.forms import add_service_error
from members.models import ContactMessage, ContactReport, Profile
from members.views import paginate


class ContactSendView(LoginRequiredMixin, View):
    """Write to a member whose profile the viewer may see; 404 for any other profile."""

    template_name = "members/contact_send.html"

    def page(self, request, profile: Profile, form=None, *, status: int = 200):
        refusal = contact.contact_refusal(sender=request.user, recipient_profile=profile)
        context = {
            "profile": profile,
            "form": form if refusal is None else None,
            "refusal": (
                contact.refusal_text(refusal=refusal, name=profile.display_name) if refusal else ""
            ),
            "limit": contact.rate_limit(),
        }
        if refusal is not None and status == 200:
            status = 403
        return render(request, self.template_name, context, status=status)

    def profile(self, request, pk: int) -> Profile:
        return selectors.profile_get_visible(viewer=request.user, pk=pk)

    def get(self, request, pk: int):
        profile = self.profile(request, pk)
        if profile.user_id == request.user.pk:
            return redirect("members:me")
        return self.page(request, profile, ContactMessageForm())

    def post(self, request, pk: int):
        profile = self.profile(request, pk)
        if profile.user_id == request.user.pk:
            return redirect("members:me")
        if contact.contact_refusal(sender=request.user, recipient_profile=profile):
            return self.page(request, profile, status=403)
        form = ContactMessageForm(request.POST)
        if not form.is_valid():
            return self.page(request, profile, form, status=400)
        try:
            contact.contact_send(
                sender=request.user,
                recipient_profile=profile,
                subject=form.cleaned_data["subject"],
                body=form.cleaned_data["body"],
            )
        except ValidationError as error:
            add_service_error(form, error)
            code = getattr(error, "code", None)
            status = {"rate_limited": 429}.get(code, 403 if code in contact.REFUSALS else 400)
            return self.page(request, profile, form, status=status)
        messages.success(
            request,
            _("Your message to %(name)s is on its way. Their answer will come to your e-mail.")
            % {"name": profile.display_name},
        )
        return redirect("members:profile_detail", pk=profile.pk)


class ContactReportView(LoginRequiredMixin, View):
    """The link in every contact mail: its recipient, signed in, reports the message.

    The signed token only names the message; the page is for its recipient, 404 for
    everyone else (the same answer as for a token that is not valid).
    """

    template_name = "members/contact_report.html"

    def message(self, request, token: str) -> ContactMessage:
        message = contact.message_from_report_token(token=token)
        if message is None or message.recipient_id != request.user.pk:
            raise Http404(_("This link is not valid."))
        return message

    def page(self, request, message: ContactMessage, form=None, *, status: int = 200):
        context = {
            "message": message,
            "sender_name": contact.name_of(message.sender),
            "report": ContactReport.objects.filter(message=message).first(),
            "form": form or ContactReportForm(),
        }
        response = render(request, self.template_name, context, status=status)
        # The token is in the address: keep it out of Referer headers and caches.
        response["Referrer-Policy"] = "no-referrer"
        response["Cache-Control"] = "no-store"
        return response

    def get(self, request, token: str):
        return self.page(request, self.message(request, token))

    def post(self, request, token: str):
        message = self.message(request, token)
        form = ContactReportForm(request.POST)
        if not form.is_valid():
            return self.page(request, message, form, status=400)
        try:
            contact.contact_report(
                message=message,
                by=request.user,
                reason=form.cleaned_data["reason"],
                details=form.cleaned_data["details"],
            )
        except ValidationError as error:
            add_service_error(form, error)
            return self.page(request, message, form, status=400)
        return self.page(request, message)


class ContactReportsView(LoginRequiredMixin, View):
    """Reports about messages of the cluster's members, for its organisers; 404 for others."""

    template_name = "members/contact_reports.html"
    ACTIONS = {"handle", "suspend", "unsuspend"}

    def get(self, request, slug: str):
        cluster = selectors.cluster_get_managed(user=request.user, slug=slug)
        reports = contact.reports_for_cluster(cluster=cluster)
        return render(
            request,
            self.template_name,
            {
                "cluster": cluster,
                "page_obj": paginate(request, reports, 50),
                "open_count": reports.filter(handled_at__isnull=True).count(),
            },
        )

    def post(self, request, slug: str):
        cluster = selectors.cluster_get_managed(user=request.user, slug=slug)
        action = request.POST.get("action")
        report_id = request.POST.get("report", "")
        report = (
            contact.reports_for_cluster(cluster=cluster).filter(pk=report_id).first()
            if report_id.isdigit()
            else None
        )
        if action not in self.ACTIONS or report is None:
            messages.error(request, _("That report is not one of this cluster's."))
            return redirect("members:contact_reports", slug=cluster.slug)
        sender_name = contact.name_of(report.sender)
        try:
            if action == "handle":
                contact.contact_report_handle(report=report, by=request.user)
                messages.success(request, _("The report is marked as handled."))
            else:
                contact.contact_suspend(
                    sender=report.sender, by=request.user, suspended=action == "suspend"
                )
                if action == "suspend":
                    messages.success(
                        request,
                        _("%(name)s can no longer send messages to members.")
                        % {"name": sender_name},
                    )
                else:
                    messages.success(
                        request,
                        _("%(name)s can send messages to members again.") % {"name": sender_name},
                    )
        except (PermissionDenied, Profile.DoesNotExist):
            messages.error(request, _("That is not possible for this report."))
        return redirect("members:contact_reports", slug=cluster.slug)
