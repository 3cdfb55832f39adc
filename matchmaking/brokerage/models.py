"""B2B brokerage days: a marketplace of offers and requests, meeting requests, and the
schedule of short 1:1 meetings at tables in meeting blocks.

A brokerage event is an `events.Event` of kind BROKERAGE; its participants are people
with a seat on it (a confirmed or attended registration). Everything here hangs off that
event. Imported by `matchmaking/models.py` so Django registers these models in the
`matchmaking` app.

Invariants the database holds (the scheduler and the services rely on them):
- one participant per person and event;
- nobody in two meetings of the same slot (`MeetingSeat`: one row per person and slot
  while a meeting holds it);
- one meeting per table and slot (`Meeting`, while the meeting is pending or accepted);
- at most one live request per pair of people and event, whichever side asked.
"""

from django.conf import settings
from django.core.validators import MaxLengthValidator, MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Greatest, Least
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from events.models import Event
from members.models import Organisation, Topic
from members.validators import validate_single_line


class BrokerageSettings(models.Model):
    """How an organiser runs the brokerage of one event."""

    class Scheduling(models.TextChoices):
        PICK = "pick", _("Participants pick a free common slot when accepting")
        SCHEDULER = "scheduler", _("The organiser runs the scheduler")

    event = models.OneToOneField(
        Event, on_delete=models.CASCADE, related_name="brokerage", verbose_name=_("event")
    )
    scheduling = models.CharField(
        _("scheduling"), max_length=16, choices=Scheduling.choices, default=Scheduling.PICK
    )
    request_expiry_hours = models.PositiveSmallIntegerField(
        _("pending requests expire after (hours)"),
        default=72,
        validators=[MinValueValidator(1), MaxValueValidator(24 * 30)],
    )
    default_max_meetings = models.PositiveSmallIntegerField(
        _("meetings per participant, unless they choose fewer"),
        default=12,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    marketplace_open = models.BooleanField(
        _("marketplace open"),
        default=True,
        help_text=_("Participants can browse, publish offers and requests and ask to meet."),
    )
    # When the organiser last published the scheduler's result; None: not yet.
    schedule_published_at = models.DateTimeField(_("schedule published at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("brokerage settings")
        verbose_name_plural = _("brokerage settings")

    def __str__(self):
        return str(self.event)


class MeetingBlock(models.Model):
    """A stretch of the day given to 1:1 meetings, cut into slots of equal length."""

    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="meeting_blocks", verbose_name=_("event")
    )
    name = models.CharField(
        _("name"), max_length=120, blank=True, validators=[validate_single_line]
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    slot_minutes = models.PositiveSmallIntegerField(
        _("slot length (minutes)"),
        default=20,
        validators=[MinValueValidator(5), MaxValueValidator(120)],
    )
    gap_minutes = models.PositiveSmallIntegerField(
        _("break between slots (minutes)"),
        default=0,
        validators=[MaxValueValidator(60)],
    )

    class Meta:
        verbose_name = _("meeting block")
        verbose_name_plural = _("meeting blocks")
        ordering = ["starts_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="meeting_block_ends_after_start"
            ),
        ]

    def __str__(self):
        return self.name or f"{self.starts_at:%Y-%m-%d %H:%M}"


class Slot(models.Model):
    """One meeting time of a block. Written by the services whenever a block changes."""

    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="meeting_slots", verbose_name=_("event")
    )
    block = models.ForeignKey(
        MeetingBlock, on_delete=models.CASCADE, related_name="slots", verbose_name=_("block")
    )
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    # A slot the organiser keeps free (a coffee break inside a block).
    is_break = models.BooleanField(_("break"), default=False)

    class Meta:
        verbose_name = _("slot")
        verbose_name_plural = _("slots")
        ordering = ["starts_at", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["event", "starts_at"], name="one_slot_per_start"),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="slot_ends_after_start"
            ),
        ]

    def __str__(self):
        return f"{self.starts_at:%Y-%m-%d %H:%M}"


class Table(models.Model):
    """A meeting table in the hall, or an online room (with its link)."""

    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="meeting_tables", verbose_name=_("event")
    )
    name = models.CharField(_("name"), max_length=80, validators=[validate_single_line])
    online_url = models.URLField(
        _("online room link"),
        blank=True,
        help_text=_("For an online room; shown only to the two people meeting there."),
    )
    position = models.PositiveIntegerField(_("position"), default=0)
    is_active = models.BooleanField(_("in use"), default=True)

    class Meta:
        verbose_name = _("table")
        verbose_name_plural = _("tables")
        ordering = ["position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["event", "name"], name="one_table_name_per_event"),
        ]

    def __str__(self):
        return self.name

    @property
    def is_online(self) -> bool:
        return bool(self.online_url)


class Participant(models.Model):
    """A person with a seat on a brokerage event, as the marketplace shows them."""

    event = models.ForeignKey(
        Event,
        on_delete=models.CASCADE,
        related_name="brokerage_participants",
        verbose_name=_("event"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="brokerage_participations",
        verbose_name=_("user"),
    )
    # Copied from the person's organisation when they join; they may correct it.
    organisation_kind = models.CharField(
        _("organisation kind"),
        max_length=32,
        choices=Organisation.Kind.choices,
        default=Organisation.Kind.OTHER,
    )
    headline = models.CharField(
        _("what I bring to this day"),
        max_length=200,
        blank=True,
        validators=[validate_single_line],
    )
    max_meetings = models.PositiveSmallIntegerField(
        _("how many meetings I want at most"),
        validators=[MinValueValidator(0), MaxValueValidator(100)],
    )
    blocks = models.ManyToManyField(
        MeetingBlock,
        blank=True,
        related_name="participants",
        verbose_name=_("meeting blocks I attend"),
    )
    # Listed to every participant of the day (name, organisation, kind, country, headline,
    # offers and requests), not only to those the directory shows the profile to.
    shown_to_all = models.BooleanField(
        _("Show my card to every participant of this day"), default=False
    )
    joined_at = models.DateTimeField(_("joined at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("brokerage participant")
        verbose_name_plural = _("brokerage participants")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "user"], name="one_brokerage_participant_per_person"
            ),
        ]
        indexes = [models.Index(fields=["event", "organisation_kind"])]

    def __str__(self):
        return f"{self.user} at {self.event}"

    @property
    def name(self) -> str:
        """How pages and mail name a participant: their profile's display name, never their
        address; "A participant" once their profile is gone (an erased account)."""
        profile = getattr(self.user, "profile", None)
        name = profile.display_name.strip() if profile is not None else ""
        return name or self.user.get_full_name() or str(_("A participant"))

    @property
    def organisation_name(self) -> str:
        """The name of the participant's organisation ("" when none)."""
        profile = getattr(self.user, "profile", None)
        organisation = profile.organisation if profile is not None else None
        return organisation.name if organisation is not None else ""


class MarketItem(models.Model):
    """An offer or a request a participant publishes in the event's marketplace."""

    class Direction(models.TextChoices):
        OFFER = "offer", _("Offer")
        REQUEST = "request", _("Request")

    class Type(models.TextChoices):
        COOPERATION = "cooperation", _("Cooperation")
        EXPERTISE = "expertise", _("Expertise")
        TECHNOLOGY = "technology", _("Technology")
        PRODUCT = "product", _("Product or service")
        INVESTMENT = "investment", _("Investment")
        PARTNERSHIP = "partnership", _("Partnership")
        RESEARCH_PROJECT = "research_project", _("Research project")

    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="items", verbose_name=_("participant")
    )
    direction = models.CharField(_("offer or request"), max_length=8, choices=Direction.choices)
    type = models.CharField(_("type"), max_length=20, choices=Type.choices)
    title = models.CharField(_("title"), max_length=150, validators=[validate_single_line])
    description = models.TextField(
        _("short text"), blank=True, validators=[MaxLengthValidator(1000)]
    )
    topics = models.ManyToManyField(Topic, blank=True, related_name="+", verbose_name=_("topics"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("offer or request")
        verbose_name_plural = _("offers and requests")
        ordering = ["participant", "direction", "pk"]
        indexes = [models.Index(fields=["type", "direction"])]

    def __str__(self):
        return self.title


class Meeting(models.Model):
    """A request to meet, and the meeting it becomes once accepted and placed in a slot.

    One row from request to feedback, so the funnel requested → accepted → scheduled →
    held → follow-up intended is a count of rows.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("Waiting for an answer")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")
        EXPIRED = "expired", _("Expired")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        CANCELLED = "cancelled", _("Cancelled")

    # States that hold a slot and a table (and count against the pair's one live request).
    LIVE_STATUSES = (Status.PENDING, Status.ACCEPTED)

    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="brokerage_meetings", verbose_name=_("event")
    )
    requester = models.ForeignKey(
        Participant,
        on_delete=models.CASCADE,
        related_name="requests_sent",
        verbose_name=_("requested by"),
    )
    recipient = models.ForeignKey(
        Participant,
        on_delete=models.CASCADE,
        related_name="requests_received",
        verbose_name=_("requested from"),
    )
    message = models.TextField(_("message"), blank=True, validators=[MaxLengthValidator(1000)])
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PENDING
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    answered_at = models.DateTimeField(_("answered at"), null=True, blank=True)
    slot = models.ForeignKey(
        Slot,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="meetings",
        verbose_name=_("slot"),
    )
    table = models.ForeignKey(
        Table,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="meetings",
        verbose_name=_("table"),
    )
    # The slot and table are shown to the two people (agenda, mail, calendar) once
    # published: at once when they picked it, after the organiser publishes a scheduler run.
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    # iCalendar SEQUENCE of this meeting's calendar entry: +1 on every change of its time
    # or place, and on cancelling it.
    sequence = models.PositiveIntegerField(_("sequence"), default=0, editable=False)
    checked_in_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    # After the day, each side's own answers (None: not answered).
    requester_held = models.BooleanField(_("took place (requester)"), null=True, blank=True)
    recipient_held = models.BooleanField(_("took place (recipient)"), null=True, blank=True)
    requester_follow_up = models.BooleanField(
        _("may lead to cooperation (requester)"), null=True, blank=True
    )
    recipient_follow_up = models.BooleanField(
        _("may lead to cooperation (recipient)"), null=True, blank=True
    )
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("meeting")
        verbose_name_plural = _("meetings")
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["event", "status"]),
            models.Index(fields=["status", "expires_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(requester=F("recipient")), name="meeting_not_with_oneself"
            ),
            models.UniqueConstraint(
                Least("requester", "recipient"),
                Greatest("requester", "recipient"),
                condition=Q(status__in=["pending", "accepted"]),
                name="one_live_meeting_per_pair",
            ),
            models.UniqueConstraint(
                fields=["slot", "table"],
                condition=Q(status__in=["pending", "accepted"]) & Q(table__isnull=False),
                name="one_meeting_per_table_and_slot",
            ),
            models.CheckConstraint(
                condition=Q(table__isnull=True) | Q(slot__isnull=False),
                name="meeting_table_needs_slot",
            ),
        ]

    def __str__(self):
        return f"Meeting #{self.pk}"

    def get_absolute_url(self):
        return reverse("brokerage:meeting_detail", kwargs={"pk": self.pk})

    @property
    def is_scheduled(self) -> bool:
        return self.status == self.Status.ACCEPTED and self.slot_id is not None

    def other(self, participant: Participant) -> Participant:
        return self.recipient if participant.pk == self.requester_id else self.requester


class MeetingSeat(models.Model):
    """A person's place in a slot, held by one meeting: the lock against double booking.

    Written and deleted only with the meeting's slot (services), never on its own.
    """

    meeting = models.ForeignKey(
        Meeting, on_delete=models.CASCADE, related_name="seats", verbose_name=_("meeting")
    )
    participant = models.ForeignKey(
        Participant, on_delete=models.CASCADE, related_name="seats", verbose_name=_("participant")
    )
    slot = models.ForeignKey(
        Slot, on_delete=models.CASCADE, related_name="seats", verbose_name=_("slot")
    )

    class Meta:
        verbose_name = _("meeting seat")
        verbose_name_plural = _("meeting seats")
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "slot"], name="one_meeting_per_person_and_slot"
            ),
            models.UniqueConstraint(
                fields=["meeting", "participant"], name="one_seat_per_meeting_side"
            ),
        ]

    def __str__(self):
        return f"{self.participant_id} in slot {self.slot_id}"


class ScheduleRun(models.Model):
    """One run of the scheduler: what it placed and the proof of how good that is."""

    class Outcome(models.TextChoices):
        OPTIMAL = "optimal", _("Optimal: proven best")
        FEASIBLE = "feasible", _("Good: within the time limit")
        FAILED = "failed", _("Failed")

    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="schedule_runs", verbose_name=_("event")
    )
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("started by"),
    )
    allow_moves = models.BooleanField(_("published meetings may move"), default=False)
    outcome = models.CharField(_("outcome"), max_length=10, choices=Outcome.choices)
    accepted = models.PositiveIntegerField(_("accepted meetings"), default=0)
    scheduled = models.PositiveIntegerField(_("meetings scheduled"), default=0)
    upper_bound = models.PositiveIntegerField(_("upper bound"), default=0)
    kept = models.PositiveIntegerField(_("published meetings kept in place"), default=0)
    moved = models.PositiveIntegerField(_("published meetings moved"), default=0)
    # The parts of the bound, e.g. {"tables_x_slots": 720, "free_slots": 1400, ...}.
    bound_detail = models.JSONField(_("bound detail"), default=dict, blank=True)
    seconds = models.FloatField(_("seconds"), default=0)
    # The proposal: [[meeting id, slot id, table id], ...]; placed by publishing the run.
    assignment = models.JSONField(_("assignment"), default=list, blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    # The agenda mail publishing owes (`scheduling.schedule_mail_batch`): the meetings it
    # changed, in order; how many of them are done; when a task last took it up (or was
    # queued); when all were done (None while mail is owed).
    mail_meeting_ids = models.JSONField(_("meetings to mail"), default=list, blank=True)
    mail_done = models.PositiveIntegerField(_("meetings mailed"), default=0)
    mail_queued_at = models.DateTimeField(_("agenda mail queued at"), null=True, blank=True)
    mailed_at = models.DateTimeField(_("agenda mail done at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("schedule run")
        verbose_name_plural = _("schedule runs")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"Schedule run #{self.pk} of {self.event}"
