"""The member-facing event pages: discovery, the event page, one-click registration."""

import datetime as dt
import re
import zoneinfo

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.db.models import Min, QuerySet
from django.http import Http404
from django.middleware.csrf import get_token
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.urls import path
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views import View

from events import discovery, fragments, ical, selectors, services
from events.filters import EventFilter
from events.models import Event, Registration, Session
from members import page_cache
from members.views import querystring_without_page

PAGE_SIZE = 20
Status = Registration.Status
# The join link is for people who hold a seat and can still use it.
JOIN_LINK_STATUSES = (Status.CONFIRMED, Status.ATTENDED)


def _active(registration: Registration | None) -> bool:
    return bool(registration and registration.status in Registration.ACTIVE_STATUSES)


# How Django's {% csrf_token %} writes the token into a form.
_CSRF_INPUT = re.compile(r'(<input type="hidden" name="csrfmiddlewaretoken" value=")[^"]*(">)')


def with_fresh_csrf_tokens(request, html: str) -> SafeString:
    """A cached body's forms with this response's CSRF token: the cached copy may have
    been rendered in another session of the same person, and every response gets a newly
    masked token (as an uncached page does, against BREACH)."""
    if "csrfmiddlewaretoken" not in html:
        return mark_safe(html)  # noqa: S308 (a rendered template, see members.page_cache)
    token = get_token(request)
    # Only the token changes; the rest of the body is the template's escaped output.
    return mark_safe(_CSRF_INPUT.sub(lambda found: found[1] + token + found[2], html))  # noqa: S308


def _page_number(request) -> int:
    """The page asked for, as `Paginator.get_page` reads it; 0 for anything else."""
    try:
        return int(request.GET.get("page") or 1)
    except ValueError:
        return 0


class EventListView(View):
    def get(self, request):
        past = request.GET.get("when") == "past"
        scope = selectors.viewer_scope(user=request.user)
        params = request.GET.copy()
        params.pop("when", None)
        # The filters are checked now; the events they apply to are put together only
        # when the page's ids are not in the cache.
        event_filter = EventFilter(params or None, queryset=Event.objects.none())
        valid = not (event_filter.is_bound and not event_filter.is_valid())

        def matching(*, past: bool) -> QuerySet[Event]:
            queryset = discovery.event_list(user=request.user, past=past, scope=scope)
            if not valid:
                return queryset.none()
            return event_filter.filter_queryset(queryset) if event_filter.is_bound else queryset

        def next_end() -> dt.datetime | None:
            """When the first matching event still to end does: the upcoming list then
            loses it, the past list gains it."""
            return matching(past=False).aggregate(first=Min("ends_at"))["first"]

        def results() -> QuerySet[Event]:
            return matching(past=past)

        filters_only = params.copy()
        filters_only.pop("page", None)
        # The page's events and their versions key the cached body: a registration or an
        # edit of one of them, or another event entering the page, renders it anew.
        number = _page_number(request)
        ids, count = selectors.cached_page_ids_and_count(
            name="event-list",
            user=request.user,
            scope=scope,
            parts=sorted(request.GET.lists()),
            queryset=results,
            number=number,
            size=PAGE_SIZE,
            expires=next_end,
        )
        paginator = Paginator(Event.objects.none().order_by("pk"), PAGE_SIZE)
        paginator.count = count
        page_obj = paginator.get_page(request.GET.get("page"))
        if page_obj.number != number:  # past the end, or no number: the page shown instead
            ids, _ = selectors.page_ids_and_count(results(), number=page_obj.number, size=PAGE_SIZE)
        versions = fragments.versions(event_ids=ids)

        def render_body() -> str:
            page_obj.object_list = discovery.event_cards(user=request.user, ids=ids)
            for event in page_obj.object_list:
                event.my_status_label = Status(event.my_status).label if event.my_status else ""
            context = {
                "filter": event_filter,
                "past": past,
                "can_create": bool(scope[1]) or request.user.is_staff,
                "page_obj": page_obj,
                "querystring": querystring_without_page(request),
                "filter_querystring": filters_only.urlencode(),
            }
            return render_to_string("events/includes/event_list_body.html", context, request)

        body = page_cache.cached_html(
            name="event_list",
            parts=[
                fragments.viewer_key(user=request.user, clusters=scope[0], managed=scope[1]),
                sorted(request.GET.lists()),
                page_obj.number,
                page_obj.paginator.count,
                ids,
                sorted(versions.items(), key=str),
            ],
            render=render_body,
        )
        return render(request, "events/event_list.html", {"past": past, "body": body})


class MyEventsView(LoginRequiredMixin, View):
    def get(self, request):
        return render(
            request, "events/my_events.html", {"mine": discovery.my_events(user=request.user)}
        )


class EventDetailView(View):
    def get(self, request, slug: str):
        scope = selectors.viewer_scope(user=request.user)
        found = (
            selectors.events_visible_to(user=request.user, scope=scope)
            .filter(slug=slug)
            .values_list("pk", "title", "timezone", "ends_at")
            .first()
        )
        if found is None:
            raise Http404(_("No such event."))
        event_id, title, event_zone, ends_at = found
        if not request.user.is_authenticated:
            # Visitors have no zone of their own: every time on the page is the event's.
            timezone.activate(zoneinfo.ZoneInfo(event_zone))
        body = page_cache.cached_html(
            name="event_detail",
            parts=[
                fragments.viewer_key(user=request.user, clusters=scope[0], managed=scope[1]),
                sorted(fragments.versions(event_ids=[event_id]).items(), key=str),
                ends_at <= timezone.now(),  # the register buttons go when it ends
                request.build_absolute_uri("/"),
            ],
            render=lambda: self.render_body(request, slug),
        )
        context = {"title": title, "body": with_fresh_csrf_tokens(request, body)}
        return render(request, "events/event_detail.html", context)

    def render_body(self, request, slug: str) -> str:
        event = discovery.event_detail(user=request.user, slug=slug)
        mine = discovery.viewer_registrations(user=request.user, event=event)
        registration = mine.get(None)
        for session in event.active_sessions:
            session.my_registration = mine.get(session.pk)
            session.my_registration_active = _active(session.my_registration)
            session.seats_left = discovery.seats_left(
                capacity=session.capacity, taken=session.seats_taken
            )
        now = timezone.now()
        event_url = request.build_absolute_uri(event.get_absolute_url())
        return render_to_string(
            "events/includes/event_detail_body.html",
            {
                "event": event,
                "registration": registration,
                "waitlist_number": discovery.waitlist_number(registration=registration)
                if registration
                else None,
                "registration_active": _active(registration),
                "holds_seat": bool(registration and registration.holds_seat),
                "show_join_link": bool(registration and registration.status in JOIN_LINK_STATUSES),
                "seats_left": discovery.seats_left(
                    capacity=event.capacity, taken=event.seats_taken
                ),
                "is_over": event.ends_at <= now,
                "can_register": event.status == Event.Status.PUBLISHED and event.ends_at > now,
                # A series' meetings come with its registration: no seat of their own.
                "is_series": ical.is_series(event, event.active_sessions),
                "can_manage": selectors.user_manages_event(user=request.user, event=event),
                "when": discovery.event_when(
                    starts_at=event.starts_at,
                    ends_at=event.ends_at,
                    event_zone=event.timezone,
                    viewer_zone=timezone.get_current_timezone_name(),
                ),
                "viewer_has_zone": request.user.is_authenticated,
                "calendar_links": discovery.calendar_links(event=event, event_url=event_url),
            },
            request,
        )


class TimetableView(View):
    def get(self, request, slug: str):
        event = discovery.event_get_visible_light(user=request.user, slug=slug)
        sessions = discovery.timetable_sessions(event=event)
        mine = discovery.viewer_registrations(user=request.user, event=event)
        for session in sessions:
            session.my_registration = mine.get(session.pk)
        return render(
            request,
            "events/timetable.html",
            {
                "event": event,
                "days": discovery.timetable_grid(sessions=sessions, zone_name=event.timezone),
                "holds_seat": bool(mine.get(None) and mine[None].holds_seat),
            },
        )


# --- one-click registration ----------------------------------------------------------------


class RegistrationActionView(View):
    """POST only. Anonymous people are sent to sign in, and come back to the event page."""

    http_method_names = ["post"]

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            event = discovery.event_get_visible_light(user=request.user, slug=kwargs["slug"])
            return redirect_to_login(event.get_absolute_url())
        return super().dispatch(request, *args, **kwargs)

    def post(self, request, slug: str, session_id: int | None = None):
        event = discovery.event_get_visible_light(user=request.user, slug=slug)
        session = get_object_or_404(Session, pk=session_id, event=event) if session_id else None
        try:
            self.act(request, event=event, session=session)
        except services.RegistrationBusy:
            messages.error(
                request, _("Many people are registering right now. Please try again in a moment.")
            )
        except services.RegistrationError as error:
            messages.error(request, str(error))
        return redirect(event.get_absolute_url() + (f"#session-{session.pk}" if session else ""))

    def act(self, request, *, event: Event, session: Session | None) -> None:
        raise NotImplementedError


class RegisterView(RegistrationActionView):
    def act(self, request, *, event, session):
        registration = services.event_register(event=event, user=request.user, session=session)
        what = _("the session “%s”") % session.title if session else f"“{event.title}”"
        if registration.status == Status.WAITLISTED:
            number = discovery.waitlist_number(registration=registration)
            full = _("The session is full") if session else _("The event is full")
            messages.warning(
                request,
                _("%(full)s: you are number %(n)s on the waitlist.") % {"full": full, "n": number},
            )
        elif registration.status == Status.PENDING:
            messages.info(
                request,
                _("Awaiting the organisers' approval for %s. We will e-mail you their answer.")
                % what,
            )
        elif registration.holds_seat:
            messages.success(request, _("You are registered for %s.") % what)


class CancelView(RegistrationActionView):
    def act(self, request, *, event, session):
        registration = selectors.registration_for(event=event, user=request.user, session=session)
        if registration is None or registration.status not in Registration.ACTIVE_STATUSES:
            messages.info(request, _("You were not registered."))
            return
        services.registration_cancel(registration=registration, by=request.user)
        if session:
            messages.success(request, _("Your place in “%s” is cancelled.") % session.title)
        else:
            messages.success(request, _("Your registration is cancelled."))


urlpatterns: list = [
    path("", EventListView.as_view(), name="list"),
    path("mine/", MyEventsView.as_view(), name="my_events"),
    path("<slug:slug>/", EventDetailView.as_view(), name="detail"),
    path("<slug:slug>/register/", RegisterView.as_view(), name="register"),
    path("<slug:slug>/cancel/", CancelView.as_view(), name="cancel"),
    path("<slug:slug>/timetable/", TimetableView.as_view(), name="timetable"),
    path(
        "<slug:slug>/sessions/<int:session_id>/register/",
        RegisterView.as_view(),
        name="session_register",
    ),
    path(
        "<slug:slug>/sessions/<int:session_id>/cancel/",
        CancelView.as_view(),
        name="session_cancel",
    ),
]
