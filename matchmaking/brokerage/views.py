"""Participant pages of a brokerage event, under /networking/<slug>/ (the event's slug),
and the meeting page, /networking/meeting/<pk>/, which only its two sides see.

Who sees what: the hub of a visible brokerage event, anyone signed in (a person without
a seat is told why); the marketplace and people's cards, participants (people with a
seat) and the event's managing organisers; every page of one's own participation
(offers, requests, suggestions, agenda), participants; a meeting, its two sides while
they have a seat (404 for anyone else). Every write and non-trivial read is a call into
`services`, `selectors`, `marketplace` or `recommend`.
"""

from dataclasses import dataclass
from functools import cached_property

from django.contrib import messages
from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import path
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views import View

from events.models import Event
from events.selectors import user_manages_event
from matchmaking.brokerage import agenda_ical, marketplace, recommend, selectors, services
from matchmaking.brokerage.forms import (
    AnswerForm,
    ItemForm,
    MarketFilterForm,
    MeetingFeedbackForm,
    MeetingRequestForm,
    ParticipantForm,
    slot_label,
)
from matchmaking.brokerage.models import (
    BrokerageSettings,
    MarketItem,
    Meeting,
    Participant,
    Slot,
)
from members.forms import add_service_error
from members.views import paginate, querystring_without_page

PAGE_SIZE = 20
NEXT_MEETINGS = 3


def _say(request, error: ValidationError) -> None:
    for text in error.messages:
        messages.error(request, text)


@dataclass
class Access:
    """The viewer's standing on one brokerage event."""

    event: Event
    user: object
    has_seat: bool
    participant: Participant | None

    @cached_property
    def manages(self) -> bool:
        return user_manages_event(user=self.user, event=self.event)

    @cached_property
    def settings(self) -> BrokerageSettings:
        return selectors.brokerage_settings_of(event=self.event)

    @property
    def may_browse(self) -> bool:
        return self.has_seat or self.manages

    @property
    def is_open(self) -> bool:
        return self.settings.marketplace_open

    @property
    def picks_slots(self) -> bool:
        return self.settings.scheduling == BrokerageSettings.Scheduling.PICK


def access_for(request, slug: str) -> Access:
    event = selectors.brokerage_event_get(user=request.user, slug=slug)
    # `participant_for` answers only for people with a seat: a row means a seat.
    participant = selectors.participant_for(event=event, user=request.user)
    has_seat = participant is not None or selectors.user_is_participant(
        event=event, user=request.user
    )
    return Access(event=event, user=request.user, has_seat=has_seat, participant=participant)


class BrokerageView(LoginRequiredMixin, View):
    """A page of one brokerage event. `need` says who may see it:

    - "any": anyone who may see the event;
    - "browse": participants and managing organisers;
    - "participant": participants who have joined the marketplace (those with a seat who
      have not are sent to the hub to join).
    """

    need = "participant"

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.access = access_for(request, kwargs["slug"])
        self.event = self.access.event
        self.participant = self.access.participant
        if self.need == "browse" and not self.access.may_browse:
            raise PermissionDenied(_("The marketplace is for the participants of this event."))
        if self.need == "participant":
            if not self.access.has_seat:
                raise PermissionDenied(_("This page is for the participants of this event."))
            if self.participant is None:
                messages.info(request, _("Join the marketplace first."))
                return redirect("brokerage:home", slug=self.event.slug)
        return super().dispatch(request, *args, **kwargs)

    def context(self, **extra) -> dict:
        return {
            "event": self.event,
            "access": self.access,
            "participant": self.participant,
            "viewer_zone": timezone.get_current_timezone_name(),
            **extra,
        }

    def require_open(self, request) -> bool:
        if self.access.is_open:
            return True
        messages.error(request, _("The organisers have closed the marketplace."))
        return False


def _annotate_meetings(meetings, participant: Participant) -> list[Meeting]:
    rows = list(meetings)
    for meeting in rows:
        meeting.partner = meeting.other(participant)
        meeting.i_asked = meeting.requester_id == participant.pk
    return rows


# --- the hub ---------------------------------------------------------------------------


class HomeView(BrokerageView):
    need = "any"

    def get(self, request, slug: str):
        participant = self.participant
        context = self.context()
        if self.access.may_browse:
            context["counts"] = marketplace.market_counts(event=self.event, viewer=request.user)
        if participant is not None:
            requests = selectors.requests_for(participant=participant)
            received = list(requests["received"])
            context.update(
                my_items=participant.items.count(),
                pending_received=sum(1 for m in received if m.status == Meeting.Status.PENDING),
                pending_sent=sum(1 for m in requests["sent"] if m.status == Meeting.Status.PENDING),
                next_meetings=_annotate_meetings(
                    [
                        m
                        for m in selectors.agenda_for(participant=participant)
                        if m.slot.ends_at >= timezone.now()
                    ][:NEXT_MEETINGS],
                    participant,
                ),
            )
        return render(request, "brokerage/home.html", context)


class JoinView(BrokerageView):
    need = "any"
    http_method_names = ["post"]

    def post(self, request, slug: str):
        if not self.access.has_seat:
            raise PermissionDenied(_("This page is for the participants of this event."))
        try:
            services.participant_join(
                event=self.event,
                user=request.user,
                shown_to_all=request.POST.get("shown_to_all") == "on",
            )
        except ValidationError as error:
            _say(request, error)
            return redirect("brokerage:home", slug=slug)
        messages.success(
            request,
            _("Welcome to the marketplace. Tell the others what you bring and look for."),
        )
        return redirect("brokerage:profile_edit", slug=slug)


# --- my participation ------------------------------------------------------------------


class ProfileEditView(BrokerageView):
    def form(self, **kwargs) -> ParticipantForm:
        return ParticipantForm(event=self.event, **kwargs)

    def show(self, request, form, status=200):
        return render(
            request, "brokerage/profile_edit.html", self.context(form=form), status=status
        )

    def get(self, request, slug: str):
        p = self.participant
        initial = {
            "headline": p.headline,
            "organisation_kind": p.organisation_kind,
            "max_meetings": p.max_meetings,
            "blocks": list(p.blocks.all()),
            "shown_to_all": p.shown_to_all,
        }
        return self.show(request, self.form(initial=initial))

    def post(self, request, slug: str):
        form = self.form(data=request.POST)
        if not form.is_valid():
            return self.show(request, form, status=400)
        try:
            services.participant_update(participant=self.participant, **form.submission())
        except ValidationError as error:
            add_service_error(form, error)
            return self.show(request, form, status=400)
        messages.success(request, _("Saved."))
        return redirect("brokerage:home", slug=slug)


def _suggestion_data(suggestion: dict) -> dict:
    """A suggestion of `services.item_prefill` as the item form's fields."""
    topics = suggestion.get("topic_ids") or [
        getattr(t, "pk", t) for t in suggestion.get("topics", ())
    ]
    return {
        "direction": suggestion.get("direction", ""),
        "type": suggestion.get("type", ""),
        "title": suggestion.get("title", ""),
        "description": suggestion.get("description", ""),
        "topics": list(topics),
    }


class ItemsView(BrokerageView):
    """My offers and requests; POST adds one."""

    def show(self, request, form, status=200):
        items = list(
            self.participant.items.order_by("direction", "type", "pk").prefetch_related("topics")
        )
        titles = {item.title.casefold() for item in items}
        suggestions = [
            _suggestion_data(s)
            for s in services.item_prefill(participant=self.participant)
            if str(s.get("title", "")).casefold() not in titles
        ]
        return render(
            request,
            "brokerage/items.html",
            self.context(
                form=form,
                offers=[i for i in items if i.direction == MarketItem.Direction.OFFER],
                requests=[i for i in items if i.direction == MarketItem.Direction.REQUEST],
                suggestions=suggestions,
            ),
            status=status,
        )

    def get(self, request, slug: str):
        return self.show(request, ItemForm(initial={"direction": MarketItem.Direction.OFFER}))

    def post(self, request, slug: str):
        form = ItemForm(data=request.POST)
        if not self.require_open(request):
            return self.show(request, form, status=400)
        if not form.is_valid():
            return self.show(request, form, status=400)
        try:
            services.item_create(participant=self.participant, **form.submission())
        except ValidationError as error:
            add_service_error(form, error)
            return self.show(request, form, status=400)
        messages.success(request, _("Published in the marketplace."))
        return redirect("brokerage:items", slug=slug)


class ItemEditView(BrokerageView):
    def get_item(self, pk: int) -> MarketItem:
        return get_object_or_404(
            MarketItem.objects.prefetch_related("topics"), pk=pk, participant=self.participant
        )

    def show(self, request, item, form, status=200):
        return render(
            request, "brokerage/item_edit.html", self.context(item=item, form=form), status=status
        )

    def get(self, request, slug: str, pk: int):
        item = self.get_item(pk)
        initial = {
            "direction": item.direction,
            "type": item.type,
            "title": item.title,
            "description": item.description,
            "topics": list(item.topics.all()),
        }
        return self.show(request, item, ItemForm(initial=initial))

    def post(self, request, slug: str, pk: int):
        item = self.get_item(pk)
        form = ItemForm(data=request.POST)
        if not self.require_open(request):
            return self.show(request, item, form, status=400)
        if not form.is_valid():
            return self.show(request, item, form, status=400)
        try:
            services.item_update(item=item, **form.submission())
        except ValidationError as error:
            add_service_error(form, error)
            return self.show(request, item, form, status=400)
        messages.success(request, _("Saved."))
        return redirect("brokerage:items", slug=slug)


class ItemDeleteView(BrokerageView):
    http_method_names = ["post"]

    def post(self, request, slug: str, pk: int):
        item = get_object_or_404(MarketItem, pk=pk, participant=self.participant)
        try:
            services.item_delete(item=item)
        except ValidationError as error:
            _say(request, error)
        else:
            messages.success(request, _("Removed from the marketplace."))
        return redirect("brokerage:items", slug=slug)


# --- the marketplace -------------------------------------------------------------------


class MarketplaceView(BrokerageView):
    need = "browse"

    def get(self, request, slug: str):
        facets = marketplace.market_facets(event=self.event, viewer=request.user)
        form = MarketFilterForm(request.GET or None, facets=facets)
        if form.is_bound and not form.is_valid():
            results = Participant.objects.none()
        else:
            results = marketplace.marketplace_search(
                event=self.event,
                viewer=request.user,
                filters=form.filters(),
                exclude=self.participant,
            )
        page_obj = paginate(request, results, per_page=PAGE_SIZE)
        page_obj.object_list = list(page_obj.object_list)
        return render(
            request,
            "brokerage/marketplace.html",
            self.context(
                form=form,
                page_obj=page_obj,
                querystring=querystring_without_page(request),
                filtered=bool(form.is_bound and any(form.data.get(n) for n in form.fields)),
            ),
        )


class ParticipantDetailView(BrokerageView):
    need = "browse"

    def get(self, request, slug: str, pk: int):
        other = marketplace.participant_get_listed(event=self.event, viewer=request.user, pk=pk)
        if other is None:
            raise Http404(_("No such participant."))
        me = self.participant
        live = None
        if me is not None and me.pk != other.pk:
            live = selectors.live_meeting_between(a=me, b=other)
        return render(
            request,
            "brokerage/participant_detail.html",
            self.context(other=other, profile=other.user.profile, live_meeting=live),
        )


class RequestNewView(BrokerageView):
    """Ask a listed participant to meet: a message and, when participants pick their
    slots, an optional proposed time among the free times both have."""

    def setup_request(self, pk: int):
        recipient = marketplace.participant_get_listed(
            event=self.event, viewer=self.request.user, pk=pk
        )
        if recipient is None or recipient.pk == self.participant.pk:
            raise Http404(_("No such participant."))
        slots = (
            selectors.free_common_slots(a=self.participant, b=recipient)
            if self.access.picks_slots
            else None
        )
        return recipient, slots

    def show(self, request, recipient, form, status=200):
        return render(
            request,
            "brokerage/request_form.html",
            self.context(other=recipient, profile=recipient.user.profile, form=form),
            status=status,
        )

    def get(self, request, slug: str, pk: int):
        recipient, slots = self.setup_request(pk)
        return self.show(
            request, recipient, MeetingRequestForm(slots=slots, zone=self.event.timezone)
        )

    def post(self, request, slug: str, pk: int):
        recipient, slots = self.setup_request(pk)
        form = MeetingRequestForm(data=request.POST, slots=slots, zone=self.event.timezone)
        if not self.require_open(request) or not form.is_valid():
            return self.show(request, recipient, form, status=400)
        try:
            meeting = services.meeting_request(
                event=self.event,
                requester=self.participant,
                recipient=recipient,
                message=form.cleaned_data["message"],
                slot=form.chosen_slot() if slots is not None else None,
            )
        except ValidationError as error:
            add_service_error(form, error)
            return self.show(request, recipient, form, status=400)
        messages.success(
            request,
            _("Your request is sent to %(name)s. We will tell you when they answer.")
            % {"name": recipient.name},
        )
        if getattr(meeting, "hold_refused", False):
            messages.info(request, services.SLOT_NOT_HELD % {"name": recipient.name})
        return redirect("brokerage:requests", slug=slug)


class RequestsView(BrokerageView):
    def get(self, request, slug: str):
        found = selectors.requests_for(participant=self.participant)
        return render(
            request,
            "brokerage/requests.html",
            self.context(
                received=_annotate_meetings(found["received"], self.participant),
                sent=_annotate_meetings(found["sent"], self.participant),
            ),
        )


class RecommendationsView(BrokerageView):
    def get(self, request, slug: str):
        return render(
            request,
            "brokerage/recommendations.html",
            self.context(
                recommendations=recommend.recommendations_for(participant=self.participant)
            ),
        )


# --- my agenda -------------------------------------------------------------------------


class AgendaView(BrokerageView):
    template_name = "brokerage/agenda.html"

    def get(self, request, slug: str):
        meetings = _annotate_meetings(
            selectors.agenda_for(participant=self.participant), self.participant
        )
        now = timezone.now()
        for meeting in meetings:
            meeting.is_past = meeting.slot.ends_at <= now
        return render(
            request,
            self.template_name,
            self.context(
                meetings=meetings,
                profile=getattr(request.user, "profile", None),
                show_event_zone=timezone.get_current_timezone_name() != self.event.timezone,
            ),
        )


class AgendaPrintView(AgendaView):
    template_name = "brokerage/agenda_print.html"


class AgendaCalendarView(BrokerageView):
    def get(self, request, slug: str):
        body = agenda_ical.agenda_calendar(participant=self.participant)
        if isinstance(body, str):
            body = body.encode()
        response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="agenda-{self.event.slug}.ics"'
        return response


# --- one meeting (its two sides only) --------------------------------------------------


class MeetingView(LoginRequiredMixin, View):
    """A meeting seen by one of its two sides who still has a seat on the event; 404 for
    anyone else (someone who left the event no longer sees the time, the table or the
    online room, nor answers, cancels or gives feedback)."""

    def dispatch(self, request, *args, **kwargs):
        if not request.user.is_authenticated:
            return self.handle_no_permission()
        self.meeting = get_object_or_404(
            selectors.meetings_with_sides().filter(
                Q(requester__user=request.user) | Q(recipient__user=request.user)
            ),
            pk=kwargs["pk"],
        )
        meeting = self.meeting
        if not selectors.user_is_participant(event=meeting.event, user=request.user):
            raise Http404(_("No such meeting."))
        self.me = (
            meeting.requester if meeting.requester.user_id == request.user.pk else meeting.recipient
        )
        return super().dispatch(request, *args, **kwargs)

    def back(self, request):
        return redirect(self.meeting.get_absolute_url())


def _feedback_open(meeting: Meeting, now) -> bool:
    if meeting.status != Meeting.Status.ACCEPTED:
        return False
    if meeting.slot_id is not None:
        return meeting.slot.ends_at <= now
    return meeting.event.ends_at <= now


def _meeting_page(request, *, meeting: Meeting, me: Participant, **forms):
    event = meeting.event
    settings = BrokerageSettings.objects.filter(event=event).first()
    picks = settings is None or settings.scheduling == BrokerageSettings.Scheduling.PICK
    now = timezone.now()
    meeting.partner = meeting.other(me)
    meeting.i_asked = meeting.requester_id == me.pk
    awaiting_me = meeting.status == Meeting.Status.PENDING and not meeting.i_asked
    accept_slots = []
    if awaiting_me and picks:
        accept_slots = selectors.free_common_slots(a=me, b=meeting.partner)
        if meeting.slot_id and meeting.slot not in accept_slots:
            accept_slots = [meeting.slot, *accept_slots]
    i_said_held = meeting.requester_held if meeting.i_asked else meeting.recipient_held
    i_said_follow = meeting.requester_follow_up if meeting.i_asked else meeting.recipient_follow_up
    feedback_form = forms.get("feedback_form") or MeetingFeedbackForm(
        initial={
            "held": {True: "yes", False: "no"}.get(i_said_held),
            "follow_up": {True: "yes", False: "no"}.get(i_said_follow, ""),
        }
    )
    return render(
        request,
        "brokerage/meeting_detail.html",
        {
            "event": event,
            "meeting": meeting,
            "me": me,
            "partner_profile": getattr(meeting.partner.user, "profile", None),
            "shows_place": meeting.is_scheduled and meeting.published_at is not None,
            "awaiting_me": awaiting_me,
            "picks_slots": picks,
            "accept_slots": [
                (slot.pk, slot_label(slot, zone=event.timezone)) for slot in accept_slots
            ],
            "may_withdraw": meeting.status == Meeting.Status.PENDING and meeting.i_asked,
            "may_cancel": meeting.status == Meeting.Status.ACCEPTED
            and not _feedback_open(meeting, now),
            "feedback_open": _feedback_open(meeting, now),
            "feedback_given": i_said_held is not None,
            "feedback_form": feedback_form,
            "show_event_zone": timezone.get_current_timezone_name() != event.timezone,
        },
        status=400 if forms else 200,
    )


class MeetingDetailView(MeetingView):
    def get(self, request, pk: int):
        return _meeting_page(request, meeting=self.meeting, me=self.me)


class RequestAnswerView(MeetingView):
    """POST: accept (with a slot when participants pick theirs), decline or withdraw."""

    http_method_names = ["post"]

    def post(self, request, pk: int):
        form = AnswerForm(request.POST)
        if not form.is_valid():
            messages.error(request, _("Please choose an answer."))
            return self.back(request)
        action, meeting, me = form.cleaned_data["action"], self.meeting, self.me
        try:
            if action == AnswerForm.ACCEPT:
                slot = None
                if form.cleaned_data["slot"]:
                    slot = Slot.objects.filter(
                        event=meeting.event, pk=form.cleaned_data["slot"]
                    ).first()
                    if slot is None:
                        raise ValidationError(_("That time is not one of this event's."))
                meeting = services.meeting_accept(meeting=meeting, by=me, slot=slot)
                if meeting.slot_id:
                    text = _("Accepted. The meeting is in your agenda.")
                else:
                    text = _("Accepted. The organisers will place the meeting in the schedule.")
            elif action == AnswerForm.DECLINE:
                services.meeting_decline(meeting=meeting, by=me)
                text = _("Declined. We let them know.")
            else:
                services.meeting_withdraw(meeting=meeting, by=me)
                text = _("Your request is withdrawn.")
        except ValidationError as error:
            _say(request, error)
            return self.back(request)
        messages.success(request, text)
        if request.POST.get("from") == "requests":
            return redirect("brokerage:requests", slug=meeting.event.slug)
        return self.back(request)


class MeetingCancelView(MeetingView):
    http_method_names = ["post"]

    def post(self, request, pk: int):
        try:
            services.meeting_cancel(meeting=self.meeting, by=request.user)
        except ValidationError as error:
            _say(request, error)
            return self.back(request)
        messages.success(request, _("The meeting is cancelled. We let the other side know."))
        if request.POST.get("from") == "agenda":
            return redirect("brokerage:agenda", slug=self.meeting.event.slug)
        return self.back(request)


class MeetingFeedbackView(MeetingView):
    http_method_names = ["post"]

    def post(self, request, pk: int):
        form = MeetingFeedbackForm(request.POST)
        if form.is_valid():
            try:
                services.meeting_feedback(
                    meeting=self.meeting,
                    by=self.me,
                    held=form.cleaned_data["held"],
                    follow_up=form.cleaned_data["follow_up"],
                )
            except ValidationError as error:
                add_service_error(form, error)
            else:
                messages.success(request, _("Thank you for your answer."))
                return self.back(request)
        return _meeting_page(request, meeting=self.meeting, me=self.me, feedback_form=form)


def _event_pages(prefix: str) -> list:
    return [
        path(f"{prefix}", HomeView.as_view(), name="home"),
        path(f"{prefix}join/", JoinView.as_view(), name="join"),
        path(f"{prefix}me/", ProfileEditView.as_view(), name="profile_edit"),
        path(f"{prefix}offers/", ItemsView.as_view(), name="items"),
        path(f"{prefix}offers/<int:pk>/", ItemEditView.as_view(), name="item_edit"),
        path(f"{prefix}offers/<int:pk>/delete/", ItemDeleteView.as_view(), name="item_delete"),
        path(f"{prefix}marketplace/", MarketplaceView.as_view(), name="marketplace"),
        path(
            f"{prefix}people/<int:pk>/",
            ParticipantDetailView.as_view(),
            name="participant_detail",
        ),
        path(f"{prefix}people/<int:pk>/meet/", RequestNewView.as_view(), name="request_new"),
        path(f"{prefix}requests/", RequestsView.as_view(), name="requests"),
        path(f"{prefix}suggestions/", RecommendationsView.as_view(), name="recommendations"),
        path(f"{prefix}agenda/", AgendaView.as_view(), name="agenda"),
        path(f"{prefix}agenda/print/", AgendaPrintView.as_view(), name="agenda_print"),
        path(f"{prefix}agenda.ics", AgendaCalendarView.as_view(), name="agenda_ics"),
    ]


urlpatterns: list = [
    # Before the event pages: "meeting" would otherwise be read as an event's slug.
    path("meeting/<int:pk>/", MeetingDetailView.as_view(), name="meeting_detail"),
    path("meeting/<int:pk>/answer/", RequestAnswerView.as_view(), name="request_answer"),
    path("meeting/<int:pk>/cancel/", MeetingCancelView.as_view(), name="meeting_cancel"),
    path("meeting/<int:pk>/feedback/", MeetingFeedbackView.as_view(), name="meeting_feedback"),
    *_event_pages("<slug:slug>/"),
]
