"""Events, their dated sessions, who speaks, and who registers.

Times are stored in UTC; `Event.timezone` names the zone the event happens in, so pages
can show the viewer's own time with the event's zone stated.
"""

import uuid

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils.translation import gettext_lazy as _

from members.models import Cluster, GenderIdentity, Language, Profile, Sector, TableChange, Topic
from members.validators import validate_single_line


def default_reminder_offsets() -> list[int]:
    """Minutes before the start at which registered people are reminded: one day."""
    return [1440]


class Event(models.Model):
    class Kind(models.TextChoices):
        WEBINAR = "webinar", _("Webinar")
        CONFERENCE = "conference", _("Conference")
        MENTORING_CIRCLE = "mentoring_circle", _("Mentoring circle")
        TRAINING = "training", _("Training / course")
        BROKERAGE = "brokerage", _("Networking / brokerage event")
        SITE_VISIT = "site_visit", _("Site visit")

    class Audience(models.TextChoices):
        PUBLIC = "public", _("Public")
        MEMBERS = "members", _("Members of the organising clusters")
        INVITATION = "invitation", _("Invitation only")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        PUBLISHED = "published", _("Published")
        CANCELLED = "cancelled", _("Cancelled")
        COMPLETED = "completed", _("Completed")

    uid = models.UUIDField(_("uid"), default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(_("kind"), max_length=20, choices=Kind.choices, default=Kind.WEBINAR)
    title = models.CharField(_("title"), max_length=200, validators=[validate_single_line])
    slug = models.SlugField(_("slug"), max_length=120, unique=True)
    summary = models.CharField(_("summary"), max_length=300, blank=True)
    description = models.TextField(_("description"), blank=True, help_text=_("Markdown."))
    clusters = models.ManyToManyField(Cluster, related_name="events", verbose_name=_("clusters"))
    topics = models.ManyToManyField(
        Topic, blank=True, related_name="events", verbose_name=_("topics")
    )
    language = models.ForeignKey(
        Language,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("language"),
    )
    timezone = models.CharField(_("timezone"), max_length=64, default="Europe/Brussels")
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    venue_name = models.CharField(_("venue name"), max_length=200, blank=True)
    venue_address = models.TextField(_("venue address"), blank=True)
    online_platform = models.CharField(_("online platform"), max_length=80, blank=True)
    online_url = models.URLField(
        _("online url"), blank=True, help_text=_("Join link; shown only to confirmed participants.")
    )
    capacity = models.PositiveIntegerField(_("capacity"), null=True, blank=True)
    registration_opens_at = models.DateTimeField(_("registration opens at"), null=True, blank=True)
    registration_closes_at = models.DateTimeField(
        _("registration closes at"), null=True, blank=True
    )
    audience = models.CharField(
        _("audience"), max_length=16, choices=Audience.choices, default=Audience.MEMBERS
    )
    approval_required = models.BooleanField(_("approval required"), default=False)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT
    )
    materials_url = models.URLField(_("materials url"), blank=True)
    recording_url = models.URLField(_("recording url"), blank=True)
    reminder_offsets = models.JSONField(
        _("reminder offsets"),
        default=default_reminder_offsets,
        blank=True,
        help_text=_(
            "Minutes before the start at which confirmed participants are reminded, "
            "e.g. [1440] (one day) or [1440, 60] (one day and one hour)."
        ),
    )
    # When the follow-up (materials, recording, feedback) went to the attendees.
    followup_sent_at = models.DateTimeField(
        _("followup sent at"), null=True, blank=True, editable=False
    )
    # iCalendar SEQUENCE: rises on every change of time, place or status.
    sequence = models.PositiveIntegerField(_("sequence"), default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("event")
        verbose_name_plural = _("events")
        ordering = ["starts_at", "pk"]
        indexes = [
            models.Index(fields=["status", "starts_at"]),
            models.Index(fields=["kind"]),
            # The event list's "upcoming" (ends_at >= now) is a few hundred rows of tens of
            # thousands: found through this index, not a scan of every event ever held.
            models.Index(fields=["ends_at"], name="event_ends_at_idx"),
            # Which invitation-only events a person is registered for (the events API's
            # cached list asks on every request): the few such events, not a scan of all.
            models.Index(
                fields=["id"],
                condition=Q(audience="invitation"),
                name="event_invitation_only_idx",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="event_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(registration_closes_at__isnull=True)
                | Q(registration_opens_at__isnull=True)
                | Q(registration_closes_at__gt=F("registration_opens_at")),
                name="event_registration_window_ordered",
            ),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("events:detail", kwargs={"slug": self.slug})

    @property
    def is_online(self) -> bool:
        """A join link or platform is given — or it is a mentoring circle without a venue:
        circles meet online until their organisers name a place (no platform is stored for
        them, so each reader sees "Online" in their own language)."""
        return bool(self.online_url or self.online_platform) or (
            self.kind == self.Kind.MENTORING_CIRCLE and not (self.venue_name or self.venue_address)
        )

    @classmethod
    def online_q(cls) -> Q:
        """The events `is_online` holds for, as a query."""
        return (
            ~Q(online_url="")
            | ~Q(online_platform="")
            | Q(kind=cls.Kind.MENTORING_CIRCLE, venue_name="", venue_address="")
        )


class Session(models.Model):
    """A dated part of an event: a conference talk or panel, a training date, a circle meeting."""

    class Kind(models.TextChoices):
        TALK = "talk", _("Talk")
        KEYNOTE = "keynote", _("Keynote")
        PANEL = "panel", _("Panel")
        WORKSHOP = "workshop", _("Workshop")
        MEETING = "meeting", _("Meeting")
        BREAK = "break", _("Break")

    uid = models.UUIDField(_("uid"), default=uuid.uuid4, unique=True, editable=False)
    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="sessions", verbose_name=_("event")
    )
    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices, default=Kind.TALK)
    title = models.CharField(_("title"), max_length=200, validators=[validate_single_line])
    description = models.TextField(_("description"), blank=True, help_text=_("Markdown."))
    track = models.CharField(_("track"), max_length=80, blank=True)
    room = models.CharField(_("room"), max_length=80, blank=True)
    starts_at = models.DateTimeField(_("starts at"))
    ends_at = models.DateTimeField(_("ends at"))
    capacity = models.PositiveIntegerField(_("capacity"), null=True, blank=True)
    is_cancelled = models.BooleanField(_("is cancelled"), default=False)
    sequence = models.PositiveIntegerField(_("sequence"), default=0, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("session")
        verbose_name_plural = _("sessions")
        ordering = ["starts_at", "track", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="session_ends_after_start"
            ),
        ]

    def __str__(self):
        return f"{self.event}: {self.title}"


class StageRole(models.Model):
    """Who is on stage: speakers, panellists and moderators, members or external guests.

    An external guest's gender is recorded only with their consent, for panel balance, and
    is read only by the statistics in `members/privacy.py`-style aggregates.
    """

    class Role(models.TextChoices):
        SPEAKER = "speaker", _("Speaker")
        PANELLIST = "panellist", _("Panellist")
        MODERATOR = "moderator", _("Moderator")

    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="stage_roles", verbose_name=_("event")
    )
    session = models.ForeignKey(
        Session,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="stage_roles",
        verbose_name=_("session"),
    )
    role = models.CharField(_("role"), max_length=16, choices=Role.choices, default=Role.SPEAKER)
    profile = models.ForeignKey(
        Profile,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="stage_roles",
        verbose_name=_("profile"),
    )
    guest_name = models.CharField(_("guest name"), max_length=120, blank=True)
    guest_organisation = models.CharField(_("guest organisation"), max_length=160, blank=True)
    guest_gender = models.CharField(
        _("guest gender"), max_length=16, choices=GenderIdentity.Gender.choices, blank=True
    )
    guest_gender_consent = models.BooleanField(_("guest gender consent"), default=False)
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("stage role")
        verbose_name_plural = _("stage roles")
        ordering = ["order", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(profile__isnull=False) | ~Q(guest_name=""),
                name="stage_role_has_person",
            ),
            models.CheckConstraint(
                condition=Q(guest_gender="") | Q(guest_gender_consent=True, profile__isnull=True),
                name="guest_gender_only_with_consent",
            ),
        ]

    def __str__(self):
        return f"{self.get_role_display()} at {self.event}"

    @property
    def display_name(self) -> str:
        return self.profile.display_name if self.profile_id else self.guest_name


class Invitation(models.Model):
    """Who may see and register for an invitation-only event."""

    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="invitations", verbose_name=_("event")
    )
    email = models.EmailField(_("email"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("invitation")
        verbose_name_plural = _("invitations")
        constraints = [
            models.UniqueConstraint(fields=["event", "email"], name="unique_invitation"),
        ]

    def __str__(self):
        return f"Invitation to {self.event}"


class Registration(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", _("Pending approval")
        CONFIRMED = "confirmed", _("Confirmed")
        WAITLISTED = "waitlisted", _("Waitlisted")
        CANCELLED = "cancelled", _("Cancelled")
        DECLINED = "declined", _("Declined")
        ATTENDED = "attended", _("Attended")
        NO_SHOW = "no_show", _("No-show")

    # Statuses that hold a seat against the capacity.
    SEAT_STATUSES = (Status.CONFIRMED, Status.ATTENDED, Status.NO_SHOW)
    ACTIVE_STATUSES = (Status.PENDING, Status.CONFIRMED, Status.WAITLISTED, Status.ATTENDED)

    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="registrations", verbose_name=_("event")
    )
    session = models.ForeignKey(
        Session,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="registrations",
        verbose_name=_("session"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="registrations",
        verbose_name=_("user"),
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices)
    waitlist_position = models.PositiveIntegerField(_("waitlist position"), null=True, blank=True)
    # SEQUENCE of this person's invitation, for METHOD:REQUEST / METHOD:CANCEL.
    sequence = models.PositiveIntegerField(_("sequence"), default=0, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    checked_in_at = models.DateTimeField(_("checked in at"), null=True, blank=True)
    # The last Accept or Maybe from the person's calendar (events.replies), and for which
    # SEQUENCE of the invitation; a Decline cancels the registration instead.
    calendar_answer = models.CharField(
        _("calendar answer"),
        max_length=16,
        blank=True,
        choices=[("accepted", _("Accepted")), ("tentative", _("Maybe"))],
    )
    calendar_answered_at = models.DateTimeField(_("calendar answered at"), null=True, blank=True)
    calendar_answer_sequence = models.PositiveIntegerField(
        _("calendar answer sequence"), null=True, blank=True
    )

    class Meta:
        verbose_name = _("registration")
        verbose_name_plural = _("registrations")
        ordering = ["created_at", "pk"]
        indexes = [
            models.Index(fields=["event", "status"]),
            models.Index(fields=["session", "status"]),
            models.Index(fields=["user", "status"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["event", "user"],
                condition=Q(session__isnull=True),
                name="unique_event_registration",
            ),
            models.UniqueConstraint(
                fields=["session", "user"],
                condition=Q(session__isnull=False),
                name="unique_session_registration",
            ),
            models.CheckConstraint(
                condition=Q(status="waitlisted", waitlist_position__isnull=False)
                | (~Q(status="waitlisted") & Q(waitlist_position__isnull=True)),
                name="waitlist_position_only_when_waitlisted",
            ),
        ]

    def __str__(self):
        return f"Registration #{self.pk} ({self.status})"

    @property
    def holds_seat(self) -> bool:
        return self.status in self.SEAT_STATUSES


class RegistrationTally(models.Model):
    """Counts of event registrations (not session ones) per event, status and statistics
    category: summed, these rows say how many there are, and the gender-balance
    dashboard sums a few rows per event instead of a million registrations. Written only
    by database triggers (`events.tally`), which add rows of +1, −1 or ±n; the hourly
    compaction folds them into one row per event, status and category. Never shown as
    such — `members.privacy` publishes the sums."""

    # No foreign-key constraint and no cascade: rows of a deleted event's registrations
    # sum to 0 and go at the next compaction.
    event = models.ForeignKey(
        Event,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        related_name="+",
        verbose_name=_("event"),
    )
    status = models.CharField(_("status"), max_length=16, choices=Registration.Status.choices)
    category = models.CharField(_("category"), max_length=16)
    registrations = models.IntegerField(_("registrations"))  # +1, −1, ±n, or a compacted sum

    class Meta:
        verbose_name = _("registration tally")
        verbose_name_plural = _("registration tallies")

    def __str__(self):
        return f"Tally of event #{self.event_id}: {self.status} {self.registrations:+d}"


def new_feed_token() -> str:
    import secrets

    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """A member's secret subscription URL for their registered events; resettable."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="calendar_feed",
        verbose_name=_("user"),
    )
    token = models.CharField(_("token"), max_length=64, unique=True, default=new_feed_token)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")

    def __str__(self):
        return f"Calendar feed of user #{self.user_id}"


class Campaign(models.Model):
    """An invitation mailing for an event, built from audience criteria by an organiser.

    The audience (see `events.campaigns.campaign_audience`): within one criterion any
    chosen value matches; across criteria every filled criterion must match; a campaign
    without member criteria reaches no members. Uploaded addresses are added on top.
    """

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        SENDING = "sending", _("Sending")
        SENT = "sent", _("Sent")

    event = models.ForeignKey(
        Event, on_delete=models.CASCADE, related_name="campaigns", verbose_name=_("event")
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT
    )
    clusters = models.ManyToManyField(
        Cluster, blank=True, related_name="+", verbose_name=_("clusters")
    )
    organisation_kinds = models.JSONField(_("organisation kinds"), default=list, blank=True)
    sectors = models.ManyToManyField(
        Sector, blank=True, related_name="+", verbose_name=_("sectors")
    )
    topics = models.ManyToManyField(Topic, blank=True, related_name="+", verbose_name=_("topics"))
    countries = models.JSONField(_("countries"), default=list, blank=True)
    past_events = models.ManyToManyField(
        Event, blank=True, related_name="+", verbose_name=_("past events")
    )
    emails = models.TextField(_("emails"), blank=True, help_text=_("One e-mail address per line."))
    message = models.TextField(
        _("message"), blank=True, help_text=_("A personal note, shown in the e-mail.")
    )
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    recipient_count = models.PositiveIntegerField(_("recipient count"), null=True, blank=True)
    # The fan-out cursor (see `events.campaigns`): members after this id, then addresses
    # after this one are still to be invited. Advanced in the transaction of each chunk,
    # so it survives a lost task or a broker restart.
    fanout_after_user = models.BigIntegerField(_("fanout after user"), default=0)
    fanout_after_email = models.CharField(_("fanout after email"), max_length=320, blank=True)
    # When the fan-out last advanced or was resumed; a `sending` campaign quiet for
    # longer than `events.campaigns.STALLED_AFTER` has lost its task.
    fanout_progress_at = models.DateTimeField(_("fanout progress at"), null=True, blank=True)

    class Meta:
        verbose_name = _("campaign")
        verbose_name_plural = _("campaigns")
        ordering = ["-created_at", "-pk"]

    def __str__(self):
        return f"Campaign #{self.pk} for {self.event}"

    def get_absolute_url(self):
        return reverse(
            "events:campaign_detail", kwargs={"slug": self.event.slug, "campaign_id": self.pk}
        )


class CampaignRecipient(models.Model):
    """One address a campaign went to; `user` is empty for people who are not members."""

    class Rsvp(models.TextChoices):
        NONE = "", _("No answer")
        YES = "yes", _("Yes")
        NO = "no", _("No")

    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="recipients", verbose_name=_("campaign")
    )
    email = models.EmailField(_("email"))
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    rsvp = models.CharField(
        _("rsvp"), max_length=3, choices=Rsvp.choices, blank=True, default=Rsvp.NONE
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("campaign recipient")
        verbose_name_plural = _("campaign recipients")
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "email"], name="unique_campaign_recipient"),
        ]

    def __str__(self):
        return f"Recipient #{self.pk} of campaign #{self.campaign_id}"


class EventListChange(TableChange):
    """A change to which events the events API lists, to whom (events.list_version)."""

    class Meta:
        verbose_name = _("event list change")
        verbose_name_plural = _("event list changes")
