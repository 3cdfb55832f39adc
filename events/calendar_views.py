"""Calendar files: an event's .ics, a member's invitation, and subscription feeds."""

import hashlib

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import path, reverse
from django.utils.cache import get_conditional_response, patch_vary_headers
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views import View

from events import calendar_selectors, calendar_services, fragments, ical, selectors
from members.languages import in_language_of
from members.models import Cluster


def calendar_response(content: bytes, *, filename: str, private: bool = False) -> HttpResponse:
    response = HttpResponse(content, content_type=ical.CONTENT_TYPE)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "private, no-store" if private else "public, max-age=300"
    return response


def conditional_calendar(
    request, *, parts: list, build, filename: str, private: bool = False
) -> HttpResponse:
    """A calendar file with an ETag of `parts` (what the file is made of: rows, versions of
    its events from `events.fragments`), answered 304 when the client has it already.

    The caller has checked who may have the file; `build()` makes it only when needed.
    Calendar apps poll subscriptions every few minutes: most polls then cost the tag.
    """
    parts = [*parts, get_language(), request.build_absolute_uri("/")]
    etag = '"' + hashlib.sha256(repr(parts).encode()).hexdigest()[:40] + '"'
    response = get_conditional_response(request, etag=etag)
    if response is None:
        response = calendar_response(build(), filename=filename, private=private)
    else:
        response["Cache-Control"] = "private, no-store" if private else "public, max-age=300"
    response["ETag"] = etag
    patch_vary_headers(response, ["Cookie", "Accept-Language"])
    return response


def _versions(event_ids) -> list:
    return sorted(fragments.versions(event_ids=event_ids).items(), key=str)


class EventCalendarView(View):
    """The event (a conference with its sessions) for anyone allowed to see it."""

    def get(self, request, slug: str):
        event = selectors.event_get_visible(user=request.user, slug=slug)
        # Who may see it is settled above; the file is the same for all who may, so the tag
        # is the event's version (a change to it or its sessions gives a new one).
        return conditional_calendar(
            request,
            parts=[_versions([event.pk])],
            build=lambda: ical.event_calendar(
                event, calendar_selectors.sessions_for_calendar(event=event)
            ),
            filename=f"{event.slug}.ics",
            private=event.audience != event.Audience.PUBLIC,
        )


class InvitationView(LoginRequiredMixin, View):
    """My own invitation to an event: REQUEST, or CANCEL once cancelled."""

    def get(self, request, slug: str):
        event = selectors.event_get_visible(user=request.user, slug=slug)
        registration = selectors.registration_for(event=event, user=request.user)
        if registration is None:
            raise Http404(_("You have no registration for this event."))
        return calendar_response(
            ical.registration_invitation(registration),
            filename=f"{event.slug}-invitation.ics",
            private=True,
        )


class PersonalFeedView(View):
    """My registered events; the secret token in the URL is the credential."""

    def get(self, request, token: str):
        user = calendar_selectors.feed_owner(token=token)
        registrations = calendar_selectors.registrations_for_feed(user=user)
        rows = list(
            registrations.prefetch_related(None).values_list(
                "pk", "status", "sequence", "event_id", "session_id"
            )
        )
        # A calendar app fetches it, usually asking for no language: in the owner's.
        with in_language_of(user):
            return conditional_calendar(
                request,
                parts=[token, rows, _versions({row[3] for row in rows})],
                build=lambda: ical.registrations_feed(
                    registrations, name=_("My events · %(site)s") % {"site": settings.SITE_NAME}
                ),
                filename="my-events.ics",
                private=True,
            )


class ClusterFeedView(View):
    def get(self, request, cluster_slug: str):
        cluster, events = calendar_selectors.cluster_feed_events(cluster_slug=cluster_slug)
        event_ids = list(events.prefetch_related(None).values_list("pk", flat=True))
        return conditional_calendar(
            request,
            parts=[cluster.pk, event_ids, _versions(event_ids)],
            build=lambda: ical.feed_calendar(events, name=cluster.name),
            filename=f"{cluster.slug}.ics",
        )


def webcal_url(request, path: str) -> str:
    """The webcal:// form of an absolute URL, which calendar apps open as a subscription."""
    url = request.build_absolute_uri(path)
    return "webcal://" + url.split("://", 1)[1]


class FeedsView(LoginRequiredMixin, View):
    """My subscription URL (with a button to create or reset it) and the cluster feeds."""

    template_name = "events/calendar_feeds.html"

    def get(self, request):
        feed = request.user.calendar_feed if hasattr(request.user, "calendar_feed") else None
        personal_url = (
            webcal_url(request, reverse("events:feed_personal", kwargs={"token": feed.token}))
            if feed
            else ""
        )
        clusters = [
            {
                "cluster": cluster,
                "webcal_url": webcal_url(
                    request, reverse("events:feed_cluster", kwargs={"cluster_slug": cluster.slug})
                ),
            }
            for cluster in Cluster.objects.order_by("name")
        ]
        return render(
            request,
            self.template_name,
            {"personal_url": personal_url, "clusters": clusters},
        )

    def post(self, request):
        had_feed = hasattr(request.user, "calendar_feed")
        calendar_services.calendar_feed_reset(user=request.user)
        if had_feed:
            messages.success(request, _("New address created. The old one no longer works."))
        else:
            messages.success(request, _("Your calendar address is ready."))
        return redirect("events:feeds")


urlpatterns = [
    path("feeds/", FeedsView.as_view(), name="feeds"),
    path("feeds/me/<str:token>.ics", PersonalFeedView.as_view(), name="feed_personal"),
    path("feeds/cluster/<slug:cluster_slug>.ics", ClusterFeedView.as_view(), name="feed_cluster"),
    path("<slug:slug>/calendar.ics", EventCalendarView.as_view(), name="calendar"),
    path("<slug:slug>/invitation.ics", InvitationView.as_view(), name="invitation"),
]
