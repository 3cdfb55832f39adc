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

from members.models import Cluster, GenderIdentity, Language, Profile, Sector, Topic
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

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.WEBINAR)
    title = models.CharField(max_length=200, validators=[validate_single_line])
    slug = models.SlugField(max_length=120, unique=True)
    summary = models.CharField(max_length=300, blank=True)
    description = models.TextField(blank=True, help_text=_("Markdown."))
    clusters = models.ManyToManyField(Cluster, related_name="events")
    topics = models.ManyToManyField(Topic, blank=True, related_name="events")
    language = models.ForeignKey(
        Language, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    timezone = models.CharField(max_length=64, default="Europe/Brussels")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    venue_name = models.CharField(max_length=200, blank=True)
    venue_address = models.TextField(blank=True)
    online_platform = models.CharField(max_length=80, blank=True)
    online_url = models.URLField(
        blank=True, help_text=_("Join link; shown only to confirmed participants.")
    )
    capacity = models.PositiveIntegerField(null=True, blank=True)
    registration_opens_at = models.DateTimeField(null=True, blank=True)
    registration_closes_at = models.DateTimeField(null=True, blank=True)
    audience = models.CharField(max_length=16, choices=Audience.choices, default=Audience.MEMBERS)
    approval_required = models.BooleanField(default=False)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    materials_url = models.URLField(blank=True)
    recording_url = models.URLField(blank=True)
    reminder_offsets = models.JSONField(
        default=default_reminder_offsets,
        blank=True,
        help_text=_(
            "Minutes before the start at which confirmed participants are reminded, "
            "e.g. [1440] (one day) or [1440, 60] (one day and one hour)."
        ),
    )
    # When the follow-up (materials, recording, feedback) went to the attendees.
    followup_sent_at = models.DateTimeField(null=True, blank=True, editable=False)
    # iCalendar SEQUENCE: rises on every change of time, place or status.
    sequence = models.PositiveIntegerField(default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["starts_at", "pk"]
        indexes = [
            models.Index(fields=["status", "starts_at"]),
            models.Index(fields=["kind"]),
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
        return bool(self.online_url or self.online_platform)


class Session(models.Model):
    """A dated part of an event: a conference talk or panel, a training date, a circle meeting."""

    class Kind(models.TextChoices):
        TALK = "talk", _("Talk")
        KEYNOTE = "keynote", _("Keynote")
        PANEL = "panel", _("Panel")
        WORKSHOP = "workshop", _("Workshop")
        MEETING = "meeting", _("Meeting")
        BREAK = "break", _("Break")

    uid = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="sessions")
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.TALK)
    title = models.CharField(max_length=200, validators=[validate_single_line])
    description = models.TextField(blank=True, help_text=_("Markdown."))
    track = models.CharField(max_length=80, blank=True)
    room = models.CharField(max_length=80, blank=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    capacity = models.PositiveIntegerField(null=True, blank=True)
    is_cancelled = models.BooleanField(default=False)
    sequence = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
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

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="stage_roles")
    session = models.ForeignKey(
        Session, null=True, blank=True, on_delete=models.CASCADE, related_name="stage_roles"
    )
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.SPEAKER)
    profile = models.ForeignKey(
        Profile, null=True, blank=True, on_delete=models.SET_NULL, related_name="stage_roles"
    )
    guest_name = models.CharField(max_length=120, blank=True)
    guest_organisation = models.CharField(max_length=160, blank=True)
    guest_gender = models.CharField(
        max_length=16, choices=GenderIdentity.Gender.choices, blank=True
    )
    guest_gender_consent = models.BooleanField(default=False)
    order = models.PositiveSmallIntegerField(default=0)

    class Meta:
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

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="invitations")
    email = models.EmailField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
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

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="registrations")
    session = models.ForeignKey(
        Session, null=True, blank=True, on_delete=models.CASCADE, related_name="registrations"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="registrations"
    )
    status = models.CharField(max_length=16, choices=Status.choices)
    waitlist_position = models.PositiveIntegerField(null=True, blank=True)
    # SEQUENCE of this person's invitation, for METHOD:REQUEST / METHOD:CANCEL.
    sequence = models.PositiveIntegerField(default=0, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    checked_in_at = models.DateTimeField(null=True, blank=True)
    # The last Accept or Maybe from the person's calendar (events.replies), and for which
    # SEQUENCE of the invitation; a Decline cancels the registration instead.
    calendar_answer = models.CharField(
        max_length=16, blank=True, choices=[("accepted", _("Accepted")), ("tentative", _("Maybe"))]
    )
    calendar_answered_at = models.DateTimeField(null=True, blank=True)
    calendar_answer_sequence = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
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
        Event, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    status = models.CharField(max_length=16, choices=Registration.Status.choices)
    category = models.CharField(max_length=16)
    registrations = models.IntegerField()  # +1, −1, ±n, or a compacted sum

    def __str__(self):
        return f"Tally of event #{self.event_id}: {self.status} {self.registrations:+d}"


def new_feed_token() -> str:
    import secrets

    return secrets.token_urlsafe(32)


class CalendarFeed(models.Model):
    """A member's secret subscription URL for their registered events; resettable."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="calendar_feed"
    )
    token = models.CharField(max_length=64, unique=True, default=new_feed_token)
    created_at = models.DateTimeField(auto_now_add=True)

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

    event = models.ForeignKey(Event, on_delete=models.CASCADE, related_name="campaigns")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.DRAFT)
    clusters = models.ManyToManyField(Cluster, blank=True, related_name="+")
    organisation_kinds = models.JSONField(default=list, blank=True)
    sectors = models.ManyToManyField(Sector, blank=True, related_name="+")
    topics = models.ManyToManyField(Topic, blank=True, related_name="+")
    countries = models.JSONField(default=list, blank=True)
    past_events = models.ManyToManyField(Event, blank=True, related_name="+")
    emails = models.TextField(blank=True, help_text=_("One e-mail address per line."))
    message = models.TextField(blank=True, help_text=_("A personal note, shown in the e-mail."))
    sent_at = models.DateTimeField(null=True, blank=True)
    recipient_count = models.PositiveIntegerField(null=True, blank=True)
    # The fan-out cursor (see `events.campaigns`): members after this id, then addresses
    # after this one are still to be invited. Advanced in the transaction of each chunk,
    # so it survives a lost task or a broker restart.
    fanout_after_user = models.BigIntegerField(default=0)
    fanout_after_email = models.CharField(max_length=320, blank=True)
    # When the fan-out last advanced or was resumed; a `sending` campaign quiet for
    # longer than `events.campaigns.STALLED_AFTER` has lost its task.
    fanout_progress_at = models.DateTimeField(null=True, blank=True)

    class Meta:
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

    campaign = models.ForeignKey(Campaign, on_delete=models.CASCADE, related_name="recipients")
    email = models.EmailField()
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    rsvp = models.CharField(max_length=3, choices=Rsvp.choices, blank=True, default=Rsvp.NONE)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["pk"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "email"], name="unique_campaign_recipient"),
        ]

    def __str__(self):
        return f"Recipient #{self.pk} of campaign #{self.campaign_id}"
