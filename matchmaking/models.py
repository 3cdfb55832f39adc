"""Mentoring programmes: applications, matching runs, the mentoring relationship, circles."""

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from events.models import Event
from members.models import Cluster, GenderIdentity, Language, Organisation, Sector, Topic
from members.validators import validate_single_line


class Programme(models.Model):
    class Format(models.TextChoices):
        ONE_TO_ONE = "one_to_one", _("1:1 mentoring")
        CIRCLES = "circles", _("Mentoring circles")

    class Eligibility(models.TextChoices):
        MEMBERS = "members", _("Any member of the programme's clusters")
        TARGET_GROUP = "target_group", _("A target group the organisers describe")

    class Status(models.TextChoices):
        DRAFT = "draft", _("Draft")
        OPEN = "open", _("Open for applications")
        MATCHING = "matching", _("Matching")
        RUNNING = "running", _("Running")
        COMPLETED = "completed", _("Completed")

    title = models.CharField(_("title"), max_length=200, validators=[validate_single_line])
    slug = models.SlugField(_("slug"), max_length=120, unique=True)
    summary = models.CharField(_("summary"), max_length=300, blank=True)
    description = models.TextField(_("description"), blank=True, help_text=_("Markdown."))
    clusters = models.ManyToManyField(
        Cluster, related_name="programmes", verbose_name=_("clusters")
    )
    format = models.CharField(
        _("format"), max_length=16, choices=Format.choices, default=Format.ONE_TO_ONE
    )
    circle_size = models.PositiveSmallIntegerField(
        _("circle size"),
        default=6,
        validators=[MinValueValidator(2), MaxValueValidator(20)],
        help_text=_("Mentees per circle (circles only)."),
    )
    circle_meeting_weeks = models.PositiveSmallIntegerField(
        _("circle meeting weeks"),
        default=4,
        validators=[MinValueValidator(1), MaxValueValidator(12)],
        help_text=_("Weeks between two meetings of a circle."),
    )
    applications_open_at = models.DateTimeField(_("applications open at"))
    applications_close_at = models.DateTimeField(_("applications close at"))
    starts_on = models.DateField(_("starts on"))
    ends_on = models.DateField(_("ends on"))
    timezone = models.CharField(_("timezone"), max_length=64, default="Europe/Brussels")
    mentee_eligibility = models.CharField(
        _("mentee eligibility"),
        max_length=16,
        choices=Eligibility.choices,
        default=Eligibility.MEMBERS,
    )
    mentee_target_group = models.CharField(
        _("mentee target group"),
        max_length=200,
        blank=True,
        help_text=_("Who the mentee track is for, e.g. 'Women working in the cluster'."),
    )
    mentor_eligibility = models.CharField(
        _("mentor eligibility"),
        max_length=16,
        choices=Eligibility.choices,
        default=Eligibility.MEMBERS,
    )
    mentor_target_group = models.CharField(_("mentor target group"), max_length=200, blank=True)
    allow_mentor_gender_preference = models.BooleanField(
        _("allow mentor gender preference"),
        default=False,
        help_text=_(
            "Mentees may state a preferred mentor gender; only mentors who agree are matched "
            "on it, and it is a preference, never a rule."
        ),
    )
    weight_topics = models.PositiveSmallIntegerField(
        _("weight topics"), default=40, validators=[MaxValueValidator(100)]
    )
    weight_relevance = models.PositiveSmallIntegerField(
        _("weight relevance"),
        default=20,
        validators=[MaxValueValidator(100)],
        help_text=_("Sector and organisation kind."),
    )
    weight_seniority = models.PositiveSmallIntegerField(
        _("weight seniority"), default=15, validators=[MaxValueValidator(100)]
    )
    weight_place = models.PositiveSmallIntegerField(
        _("weight place"),
        default=15,
        validators=[MaxValueValidator(100)],
        help_text=_("Region or time zone."),
    )
    weight_preferences = models.PositiveSmallIntegerField(
        _("weight preferences"), default=10, validators=[MaxValueValidator(100)]
    )
    acceptance_days = models.PositiveSmallIntegerField(
        _("acceptance days"),
        default=14,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
        help_text=_("Days matched people have to accept or decline."),
    )
    nudge_after_days = models.PositiveSmallIntegerField(
        _("nudge after days"),
        default=30,
        validators=[MinValueValidator(7), MaxValueValidator(120)],
        help_text=_("Remind a pair who have not logged a meeting for this many days."),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.DRAFT
    )
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
        verbose_name = _("programme")
        verbose_name_plural = _("programmes")
        ordering = ["-applications_open_at", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=Q(applications_close_at__gt=F("applications_open_at")),
                name="programme_application_window_ordered",
            ),
            models.CheckConstraint(
                condition=Q(ends_on__gt=F("starts_on")), name="programme_ends_after_start"
            ),
            models.CheckConstraint(
                condition=Q(weight_topics__lte=100)
                & Q(weight_relevance__lte=100)
                & Q(weight_seniority__lte=100)
                & Q(weight_place__lte=100)
                & Q(weight_preferences__lte=100),
                name="programme_weights_at_most_100",
            ),
        ]

    def __str__(self):
        return self.title

    def get_absolute_url(self):
        return reverse("matchmaking:programme_detail", kwargs={"slug": self.slug})

    @property
    def is_circles(self) -> bool:
        return self.format == self.Format.CIRCLES

    @property
    def accepts_applications(self) -> bool:
        """Open for applications, and within the application window now."""
        now = timezone.now()
        return (
            self.status == self.Status.OPEN
            and self.applications_open_at <= now < self.applications_close_at
        )

    @property
    def window_has_ended(self) -> bool:
        """Applications close by themselves when the window ends: no task, the time decides."""
        return timezone.now() >= self.applications_close_at

    @property
    def status_label(self) -> str:
        """The status as it stands now: an open programme outside its window says so."""
        if self.status == self.Status.OPEN:
            if self.window_has_ended:
                return str(_("Applications closed"))
            if timezone.now() < self.applications_open_at:
                return str(_("Applications not open yet"))
        return self.get_status_display()


class Application(models.Model):
    class Role(models.TextChoices):
        MENTOR = "mentor", _("Mentor")
        MENTEE = "mentee", _("Mentee")

    class Status(models.TextChoices):
        SUBMITTED = "submitted", _("Submitted")
        APPROVED = "approved", _("Approved")
        REJECTED = "rejected", _("Not accepted")
        WITHDRAWN = "withdrawn", _("Withdrawn")

    class Seniority(models.IntegerChoices):
        EARLY = 1, _("Early career (up to 5 years)")
        MID = 2, _("Mid career (5–15 years)")
        SENIOR = 3, _("Senior (15+ years or leading a team)")
        EXECUTIVE = 4, _("Executive (leading an organisation or unit)")

    class MeetingFormat(models.TextChoices):
        ONLINE = "online", _("Online")
        IN_PERSON = "in_person", _("In person")
        EITHER = "either", _("Either")

    PREFERRED_GENDERS = [
        (GenderIdentity.Gender.WOMAN, _("A woman")),
        (GenderIdentity.Gender.MAN, _("A man")),
        (GenderIdentity.Gender.NON_BINARY, _("A non-binary person")),
    ]

    programme = models.ForeignKey(
        Programme,
        on_delete=models.CASCADE,
        related_name="applications",
        verbose_name=_("programme"),
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="mentoring_applications",
        verbose_name=_("user"),
    )
    role = models.CharField(_("role"), max_length=8, choices=Role.choices)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.SUBMITTED
    )
    # Snapshot of the profile at application time (the organisation decides exclusions).
    organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("organisation"),
    )
    topics = models.ManyToManyField(
        Topic,
        related_name="+",
        help_text=_("Mentors: what you can mentor on. Mentees: what you want to grow in."),
        verbose_name=_("topics"),
    )
    languages = models.ManyToManyField(Language, related_name="+", verbose_name=_("languages"))
    sectors = models.ManyToManyField(
        Sector, blank=True, related_name="+", verbose_name=_("sectors")
    )
    seniority = models.PositiveSmallIntegerField(
        _("seniority"), choices=Seniority.choices, default=Seniority.MID
    )
    meeting_format = models.CharField(
        _("meeting format"),
        max_length=12,
        choices=MeetingFormat.choices,
        default=MeetingFormat.EITHER,
    )
    country = CountryField(_("country"), blank=True)
    region = models.CharField(_("region"), max_length=120, blank=True)
    timezone = models.CharField(_("timezone"), max_length=64, default="Europe/Brussels")
    availability = models.CharField(
        _("availability"),
        max_length=200,
        blank=True,
        help_text=_("e.g. 'one hour every two weeks, evenings'"),
    )
    # Mentors
    capacity = models.PositiveSmallIntegerField(
        _("capacity"),
        default=1,
        validators=[MinValueValidator(1), MaxValueValidator(10)],
        help_text=_("How many mentees you can take on."),
    )
    gender_may_be_matched = models.BooleanField(
        _("gender may be matched"),
        default=False,
        help_text=_(
            "Mentees who asked for a mentor of my gender may be matched with me. My gender "
            "is used for this only, and never shown."
        ),
    )
    # Mentees
    goals = models.TextField(_("goals"), blank=True, max_length=2000)
    preferred_organisation_kinds = models.JSONField(
        _("preferred organisation kinds"), default=list, blank=True
    )
    preferred_sectors = models.ManyToManyField(
        Sector, blank=True, related_name="+", verbose_name=_("preferred sectors")
    )
    preferred_mentor_gender = models.CharField(
        _("preferred mentor gender"), max_length=16, choices=PREFERRED_GENDERS, blank=True
    )
    avoid = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="+",
        help_text=_("People you would rather not be matched with. Nobody is told."),
        verbose_name=_("avoid"),
    )
    belongs_to_target_group = models.BooleanField(_("belongs to target group"), default=False)
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("reviewed by"),
    )
    reviewed_at = models.DateTimeField(_("reviewed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("application")
        verbose_name_plural = _("applications")
        ordering = ["created_at", "pk"]
        indexes = [models.Index(fields=["programme", "role", "status"])]
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "user"], name="one_application_per_programme"
            ),
        ]

    def __str__(self):
        return f"{self.get_role_display()} application #{self.pk} to {self.programme}"


class PairRule(models.Model):
    """An organiser's decision about one pair: keep it on every re-run, or never make it."""

    class Kind(models.TextChoices):
        LOCK = "lock", _("Locked")
        FORBID = "forbid", _("Never pair")

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="pair_rules", verbose_name=_("programme")
    )
    mentor = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="+", verbose_name=_("mentor")
    )
    mentee = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="+", verbose_name=_("mentee")
    )
    kind = models.CharField(_("kind"), max_length=8, choices=Kind.choices)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("pair rule")
        verbose_name_plural = _("pair rules")
        constraints = [
            models.UniqueConstraint(fields=["mentor", "mentee"], name="one_rule_per_pair"),
            models.UniqueConstraint(
                fields=["mentee"], condition=Q(kind="lock"), name="one_lock_per_mentee"
            ),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} pair in {self.programme}"


class MatchingRun(models.Model):
    """One run of the solver: what it found, and the proof that it is optimal."""

    programme = models.ForeignKey(
        Programme,
        on_delete=models.CASCADE,
        related_name="matching_runs",
        verbose_name=_("programme"),
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("created by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    mentees = models.PositiveIntegerField(_("mentees"), default=0)
    mentors = models.PositiveIntegerField(_("mentors"), default=0)
    placed = models.PositiveIntegerField(_("placed"), default=0)
    total_score = models.BigIntegerField(_("total score"), default=0)
    value = models.BigIntegerField(_("value"), default=0)
    dual_bound = models.BigIntegerField(_("dual bound"), default=0)
    certified = models.BooleanField(_("certified"), default=False)
    pruned = models.BooleanField(_("pruned"), default=False)
    candidate_pairs = models.BigIntegerField(_("candidate pairs"), default=0)
    allowed_pairs = models.BigIntegerField(_("allowed pairs"), default=0)
    seconds = models.FloatField(_("seconds"), default=0)
    # {mentee application id: why they have no mentor}
    unplaced = models.JSONField(_("unplaced"), default=dict, blank=True)
    # When the run read the applications: one changed after that makes its proposals stale.
    applications_as_of = models.DateTimeField(_("applications as of"), null=True, blank=True)
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)

    class Meta:
        verbose_name = _("matching run")
        verbose_name_plural = _("matching runs")
        ordering = ["-created_at", "-pk"]
        get_latest_by = "created_at"

    def __str__(self):
        return f"Matching run #{self.pk} of {self.programme}"

    @property
    def gap(self) -> int:
        return self.dual_bound - self.value


class Circle(models.Model):
    """A mentoring circle: one mentor and a group of mentees, run as an event series."""

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="circles", verbose_name=_("programme")
    )
    mentor = models.ForeignKey(
        Application, on_delete=models.CASCADE, related_name="circles", verbose_name=_("mentor")
    )
    name = models.CharField(_("name"), max_length=200, validators=[validate_single_line])
    language = models.ForeignKey(
        Language, null=True, on_delete=models.SET_NULL, related_name="+", verbose_name=_("language")
    )
    topics = models.ManyToManyField(Topic, blank=True, related_name="+", verbose_name=_("topics"))
    event = models.OneToOneField(
        Event,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="mentoring_circle",
        verbose_name=_("event"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("circle")
        verbose_name_plural = _("circles")
        ordering = ["name", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["programme", "mentor"], name="one_circle_per_mentor"),
        ]

    def __str__(self):
        return self.name


class Match(models.Model):
    """The mentoring relationship, from proposal to the end of the programme."""

    class Status(models.TextChoices):
        PROPOSED = "proposed", _("Proposed")
        ACCEPTED = "accepted", _("Accepted")
        ACTIVE = "active", _("Active")
        COMPLETED = "completed", _("Completed")
        DECLINED = "declined", _("Declined")
        ENDED_EARLY = "ended_early", _("Ended early")

    class Answer(models.TextChoices):
        PENDING = "pending", _("Not answered yet")
        ACCEPTED = "accepted", _("Accepted")
        DECLINED = "declined", _("Declined")

    # A mentee holds at most one match in these states per programme.
    LIVE_STATUSES = (Status.PROPOSED, Status.ACCEPTED, Status.ACTIVE, Status.COMPLETED)
    RUNNING_STATUSES = (Status.ACCEPTED, Status.ACTIVE)

    programme = models.ForeignKey(
        Programme, on_delete=models.CASCADE, related_name="matches", verbose_name=_("programme")
    )
    run = models.ForeignKey(
        MatchingRun,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="matches",
        verbose_name=_("run"),
    )
    mentor = models.ForeignKey(
        Application,
        on_delete=models.CASCADE,
        related_name="mentor_matches",
        verbose_name=_("mentor"),
    )
    mentee = models.ForeignKey(
        Application,
        on_delete=models.CASCADE,
        related_name="mentee_matches",
        verbose_name=_("mentee"),
    )
    circle = models.ForeignKey(
        Circle,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="matches",
        verbose_name=_("circle"),
    )
    score = models.PositiveSmallIntegerField(_("score"), default=0)
    reasons = models.JSONField(_("reasons"), default=list, blank=True)
    rules = models.JSONField(_("rules"), default=list, blank=True)
    status = models.CharField(
        _("status"), max_length=12, choices=Status.choices, default=Status.PROPOSED
    )
    mentor_answer = models.CharField(
        _("mentor answer"), max_length=10, choices=Answer.choices, default=Answer.PENDING
    )
    mentee_answer = models.CharField(
        _("mentee answer"), max_length=10, choices=Answer.choices, default=Answer.PENDING
    )
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    respond_by = models.DateTimeField(_("respond by"), null=True, blank=True)
    accepted_at = models.DateTimeField(_("accepted at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    end_reason = models.CharField(_("end reason"), max_length=300, blank=True)
    goals = models.TextField(_("goals"), blank=True, max_length=4000)
    progress = models.TextField(_("progress"), blank=True, max_length=4000)
    last_met_on = models.DateField(_("last met on"), null=True, blank=True)
    nudged_at = models.DateTimeField(_("nudged at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("match")
        ordering = ["created_at", "pk"]
        verbose_name_plural = _("matches")
        indexes = [
            models.Index(fields=["programme", "status"]),
            models.Index(fields=["status", "respond_by"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["programme", "mentee"],
                condition=Q(status__in=["proposed", "accepted", "active", "completed"]),
                name="one_live_match_per_mentee",
            ),
            models.CheckConstraint(
                condition=Q(published_at__isnull=True) | Q(respond_by__isnull=False),
                name="published_match_has_deadline",
            ),
        ]

    def __str__(self):
        return f"Match #{self.pk} in {self.programme}"

    def get_absolute_url(self):
        return reverse("matchmaking:match_detail", kwargs={"pk": self.pk})

    @property
    def is_published(self) -> bool:
        return self.published_at is not None


class MeetingLog(models.Model):
    """A meeting of a pair (or a circle member's note of a circle meeting). Private to the pair."""

    match = models.ForeignKey(
        Match, on_delete=models.CASCADE, related_name="meetings", verbose_name=_("match")
    )
    met_on = models.DateField(_("met on"))
    notes = models.TextField(_("notes"), blank=True, max_length=4000)
    logged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("logged by"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("meeting log")
        verbose_name_plural = _("meeting logs")
        ordering = ["-met_on", "-pk"]

    def __str__(self):
        return f"Meeting of match #{self.match_id} on {self.met_on}"


class Feedback(models.Model):
    """End-of-programme feedback by one side of a match."""

    match = models.ForeignKey(
        Match, on_delete=models.CASCADE, related_name="feedback", verbose_name=_("match")
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="mentoring_feedback",
        verbose_name=_("author"),
    )
    rating = models.PositiveSmallIntegerField(
        _("rating"), validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    comment = models.TextField(_("comment"), blank=True, max_length=2000)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("feedback")
        verbose_name_plural = _("feedback")
        constraints = [
            models.UniqueConstraint(fields=["match", "author"], name="one_feedback_per_person"),
            models.CheckConstraint(
                condition=Q(rating__gte=1) & Q(rating__lte=5), name="feedback_rating_1_to_5"
            ),
        ]

    def __str__(self):
        return f"Feedback on match #{self.match_id}"


# B2B brokerage lives in its own package; importing its models here registers them in
# this app (and its migrations).
from matchmaking.brokerage.models import (  # noqa: E402, F401
    BrokerageSettings,
    MarketItem,
    Meeting,
    MeetingBlock,
    MeetingSeat,
    Participant,
    ScheduleRun,
    Slot,
    Table,
)
