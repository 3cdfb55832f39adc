"""Invitation campaigns on the site: the organiser's pages and the public RSVP page.

Organiser pages answer 404 to anyone who does not manage the event. Sending only queues
the fan-out; the request never waits for the audience. The RSVP page changes nothing on
GET; its POST carries the signed token, which identifies the invited person.
"""

from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path, reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views import View
from django_countries import countries

from events import campaigns, services
from events.models import Campaign
from events.organiser_views import ManagedEventView
from members.models import Organisation, Sector, Topic
from notifications.selectors import delivery_summary
from notifications.services import outbox_retry_failed


class CampaignForm(forms.Form):
    clusters = forms.ModelMultipleChoiceField(
        queryset=None, required=False, widget=forms.CheckboxSelectMultiple
    )
    organisation_kinds = forms.MultipleChoiceField(
        label=gettext_lazy("Kinds of organisation"),
        choices=Organisation.Kind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    sectors = forms.ModelMultipleChoiceField(queryset=Sector.objects.all(), required=False)
    topics = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Topics of interest"), queryset=Topic.objects.all(), required=False
    )
    countries = forms.MultipleChoiceField(choices=countries, required=False)
    past_events = forms.ModelMultipleChoiceField(
        label=gettext_lazy("Attended one of these events"), queryset=None, required=False
    )
    emails = forms.CharField(
        label=gettext_lazy("E-mail addresses"),
        widget=forms.Textarea(attrs={"rows": 6}),
        required=False,
        help_text=gettext_lazy("One a line. People who are not members get a sign-up link."),
    )
    message = forms.CharField(
        label=gettext_lazy("Personal note"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
        max_length=2000,
    )

    def __init__(self, *args, user, event, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["clusters"].queryset = campaigns.campaign_cluster_choices(user=user)
        self.fields["past_events"].queryset = campaigns.campaign_past_event_choices(
            user=user, event=event
        )

    def clean_emails(self):
        valid, invalid = campaigns.parse_emails(self.cleaned_data["emails"])
        if invalid:
            raise ValidationError(_("Not an e-mail address: %s") % ", ".join(invalid[:20]))
        return "\n".join(valid)


def _campaign(event, campaign_id: int) -> Campaign:
    return get_object_or_404(
        Campaign.objects.select_related("created_by").prefetch_related(
            "clusters", "sectors", "topics", "past_events"
        ),
        pk=campaign_id,
        event=event,
    )


class CampaignListView(ManagedEventView):
    template_name = "events/campaigns/campaign_list.html"

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        return render(
            request,
            self.template_name,
            {"event": event, "campaigns": campaigns.campaigns_for_event(event=event)},
        )


class CampaignCreateView(ManagedEventView):
    template_name = "events/campaigns/campaign_form.html"

    def get(self, request, slug: str):
        event = self.managed_event(request, slug)
        form = CampaignForm(user=request.user, event=event)
        return render(request, self.template_name, {"event": event, "form": form})

    def post(self, request, slug: str):
        event = self.managed_event(request, slug)
        form = CampaignForm(request.POST, user=request.user, event=event)
        if form.is_valid():
            try:
                campaign = campaigns.campaign_create(
                    event=event, by=request.user, **form.cleaned_data
                )
            except ValidationError as error:
                form.add_error(None, error)
            else:
                messages.success(request, _("Campaign saved. Check the count, then send it."))
                return redirect(campaign.get_absolute_url())
        return render(request, self.template_name, {"event": event, "form": form}, status=400)


class CampaignDetailView(ManagedEventView):
    template_name = "events/campaigns/campaign_detail.html"

    def get(self, request, slug: str, campaign_id: int):
        event = self.managed_event(request, slug)
        campaign = _campaign(event, campaign_id)
        draft = campaign.status == Campaign.Status.DRAFT
        country_names = dict(countries)
        return render(
            request,
            self.template_name,
            {
                "event": event,
                "campaign": campaign,
                "kinds": [Organisation.Kind(k).label for k in campaign.organisation_kinds],
                "country_names": [country_names.get(c, c) for c in campaign.countries],
                "uploaded": len(campaign.emails.split()) if campaign.emails else 0,
                "preview": campaigns.campaign_preview_count(campaign=campaign) if draft else None,
                "recipients": None if draft else campaign.recipients.count(),
                "delivery": None
                if draft
                else delivery_summary(batch=campaigns.campaign_batch(campaign)),
                "retry_url": campaign.get_absolute_url(),
            },
        )

    def post(self, request, slug: str, campaign_id: int):
        event = self.managed_event(request, slug)
        campaign = _campaign(event, campaign_id)
        if request.POST.get("action") == "retry_failed":
            count = outbox_retry_failed(batch=campaigns.campaign_batch(campaign))
            messages.success(request, _("%d message(s) queued again.") % count)
            return redirect(campaign.get_absolute_url())
        try:
            campaigns.campaign_send(campaign=campaign, by=request.user)
        except ValidationError as error:
            messages.error(request, " ".join(error.messages))
        else:
            messages.success(request, _("Sending: the invitations go out in the background."))
        return redirect(campaign.get_absolute_url())


class RsvpView(View):
    """One-click RSVP from an invitation. Members confirm here; non-members sign up."""

    template_name = "events/campaigns/rsvp.html"

    def recipient(self, token: str):
        recipient = campaigns.rsvp_recipient(token)
        if recipient is None:
            raise Http404(_("This invitation link is not valid or has expired."))
        return recipient

    def signup(self, recipient):
        event_path = recipient.campaign.event.get_absolute_url()
        return redirect(reverse("account_signup") + "?" + urlencode({"next": event_path}))

    def get(self, request, token: str):
        recipient = self.recipient(token)
        if recipient.user is None:
            return self.signup(recipient)
        response = render(
            request,
            self.template_name,
            {"event": recipient.campaign.event, "recipient": recipient, "token": token},
        )
        response["Cache-Control"] = "private, no-store"
        # The token stays out of other sites' Referer headers by the site's policy
        # (same-origin). Not "no-referrer": browsers would then send `Origin: null` with
        # this page's form, and Django's CSRF check refuses the answer (tests/browser).
        response["Referrer-Policy"] = "same-origin"
        return response

    def post(self, request, token: str):
        recipient = self.recipient(token)
        if recipient.user is None:
            return self.signup(recipient)
        event = recipient.campaign.event
        if request.POST.get("answer") == "no":
            campaigns.rsvp_decline(recipient=recipient)
            messages.success(request, _("Thank you for letting us know."))
        else:
            try:
                registration = campaigns.rsvp_accept(recipient=recipient)
            except services.RegistrationError as error:
                messages.error(request, str(error))
            else:
                messages.success(
                    request,
                    _("You are registered for “%(title)s”: %(status)s.")
                    % {"title": event.title, "status": registration.get_status_display()},
                )
        return redirect("events:rsvp", token=token)


urlpatterns = [
    path("<slug:slug>/campaigns/", CampaignListView.as_view(), name="campaigns"),
    path("<slug:slug>/campaigns/new/", CampaignCreateView.as_view(), name="campaign_create"),
    path(
        "<slug:slug>/campaigns/<int:campaign_id>/",
        CampaignDetailView.as_view(),
        name="campaign_detail",
    ),
    path("rsvp/<str:token>/", RsvpView.as_view(), name="rsvp"),
]
