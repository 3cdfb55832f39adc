"""Accounts, clusters, organisations, member profiles and the topic taxonomy.

A person's gender lives in its own model (`GenderIdentity`) so that no profile query,
serializer or admin page can carry it by accident; only `members/privacy.py` reads it.
"""

import uuid
from datetime import date
from pathlib import Path

from django.conf import settings
from django.conf.locale import LANG_INFO
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as DjangoUserManager
from django.core.validators import MaxLengthValidator, MaxValueValidator
from django.db import models
from django.db.models import F, Q
from django.db.models.functions import Lower
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from django_countries.fields import CountryField

from members.photos import (
    PhotoField,
    validate_photo_extension,
    validate_photo_pixels,
    validate_photo_size,
)
from members.validators import validate_single_line


class UserManager(DjangoUserManager):
    """Users log in by e-mail: there is no username."""

    use_in_migrations = True

    def _create_user(self, email, password, **extra_fields):
        if not email:
            raise ValueError("An e-mail address is required.")
        user = self.model(email=self.normalize_email(email).lower(), **extra_fields)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", False)
        extra_fields.setdefault("is_superuser", False)
        return self._create_user(email, password, **extra_fields)

    def create_superuser(self, email, password=None, **extra_fields):
        extra_fields.setdefault("is_staff", True)
        extra_fields.setdefault("is_superuser", True)
        return self._create_user(email, password, **extra_fields)


class User(AbstractUser):
    username = None
    email = models.EmailField(_("e-mail address"), unique=True)
    # Set when the account was erased at its owner's request; the row stays so that
    # anonymous counts (registrations, attendance) keep adding up.
    erased_at = models.DateTimeField(_("erased at"), null=True, blank=True, editable=False)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: list[str] = []

    objects = UserManager()

    class Meta:
        verbose_name = _("user")
        verbose_name_plural = _("users")
        ordering = ["email"]
        constraints = [
            # allauth looks addresses up case-insensitively; so must uniqueness.
            models.UniqueConstraint(Lower("email"), name="unique_user_email_ci"),
        ]

    def __str__(self):
        return self.email

    def save(self, *args, **kwargs):
        # A new password, however it was set (allauth's pages, the admin, `changepassword`):
        # an API token made under the old one stops working. Django clears `_password` for
        # a hash upgrade at sign-in, which is not a new password.
        new_password = self._password is not None and self.pk is not None
        super().save(*args, **kwargs)
        if new_password:
            from members.api_tokens import api_token_revoke

            api_token_revoke(user=self)

    def clean(self):
        super().clean()
        self.email = self.__class__.objects.normalize_email(self.email).lower()


class Topic(models.Model):
    """One curated taxonomy for expertise, interests, events and mentoring."""

    name = models.CharField(
        _("name"), max_length=80, unique=True, validators=[validate_single_line]
    )
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    description = models.CharField(
        _("description"), max_length=240, blank=True, validators=[validate_single_line]
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

    class Meta:
        verbose_name = _("topic")
        verbose_name_plural = _("topics")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Sector(models.Model):
    name = models.CharField(
        _("name"), max_length=80, unique=True, validators=[validate_single_line]
    )
    slug = models.SlugField(_("slug"), max_length=80, unique=True)

    class Meta:
        verbose_name = _("sector")
        verbose_name_plural = _("sectors")
        ordering = ["name"]

    def __str__(self):
        return self.name


class Language(models.Model):
    code = models.CharField(
        _("code"), max_length=8, unique=True, help_text=_("ISO 639-1 code, e.g. 'fr'.")
    )
    name = models.CharField(_("name"), max_length=60, validators=[validate_single_line])

    class Meta:
        verbose_name = _("language")
        verbose_name_plural = _("languages")
        ordering = ["name"]

    def __str__(self):
        return self.display_name

    @property
    def display_name(self) -> str:
        """The name in the reader's language where Django knows the language, else as stored."""
        info = LANG_INFO.get(self.code)
        return gettext(info["name"]) if info and "name" in info else self.name


class Cluster(models.Model):
    """A cluster management organisation using this instance."""

    name = models.CharField(
        _("name"), max_length=160, unique=True, validators=[validate_single_line]
    )
    slug = models.SlugField(_("slug"), max_length=80, unique=True)
    short_name = models.CharField(
        _("short name"), max_length=40, blank=True, validators=[validate_single_line]
    )
    description = models.TextField(_("description"), blank=True)
    country = CountryField(_("country"), blank=True)
    region = models.CharField(
        _("region"), max_length=120, blank=True, validators=[validate_single_line]
    )
    website = models.URLField(_("website"), blank=True)
    sectors = models.ManyToManyField(
        Sector, blank=True, related_name="clusters", verbose_name=_("sectors")
    )
    organisers = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="ClusterOrganiser",
        related_name="organised_clusters",
        blank=True,
        verbose_name=_("organisers"),
    )
    # Gender balance targets: where events should stand (share of women, percent).
    women_target_percent = models.PositiveSmallIntegerField(
        _("target share of women (%)"),
        default=40,
        validators=[MaxValueValidator(100)],
        help_text=_("Events below this share of women are flagged."),
    )
    balanced_from_percent = models.PositiveSmallIntegerField(
        _("balanced from (%)"), default=40, validators=[MaxValueValidator(100)]
    )
    balanced_to_percent = models.PositiveSmallIntegerField(
        _("balanced up to (%)"), default=60, validators=[MaxValueValidator(100)]
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("cluster")
        verbose_name_plural = _("clusters")
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(balanced_from_percent__lte=F("balanced_to_percent")),
                name="cluster_balanced_zone_ordered",
            ),
        ]

    def __str__(self):
        return self.short_name or self.name

    def get_absolute_url(self):
        return reverse("members:cluster_detail", kwargs={"slug": self.slug})


class ClusterOrganiser(models.Model):
    """Grants a person the organiser role for one cluster."""

    cluster = models.ForeignKey(
        Cluster, on_delete=models.CASCADE, related_name="organiser_roles", verbose_name=_("cluster")
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="organiser_roles",
        verbose_name=_("user"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("cluster organiser")
        verbose_name_plural = _("cluster organisers")
        constraints = [
            models.UniqueConstraint(fields=["cluster", "user"], name="unique_cluster_organiser")
        ]

    def __str__(self):
        return f"{self.user} organises {self.cluster}"


class Organisation(models.Model):
    class Kind(models.TextChoices):
        SME = "sme", _("SME")
        LARGE_COMPANY = "large_company", _("Large company")
        RESEARCH = "research", _("University / research")
        PUBLIC_BODY = "public_body", _("Public body")
        CLUSTER_ORGANISATION = "cluster_organisation", _("Cluster organisation")
        INVESTOR = "investor", _("Investor / financial")
        ASSOCIATION = "association", _("Association")
        OTHER = "other", _("Other")

    name = models.CharField(_("name"), max_length=200, validators=[validate_single_line])
    slug = models.SlugField(_("slug"), max_length=120, unique=True)
    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices, default=Kind.SME)
    country = CountryField(_("country"))
    region = models.CharField(
        _("region"), max_length=120, blank=True, validators=[validate_single_line]
    )
    sectors = models.ManyToManyField(
        Sector, blank=True, related_name="organisations", verbose_name=_("sectors")
    )
    website = models.URLField(_("website"), blank=True)
    description = models.TextField(
        _("description"), blank=True, validators=[MaxLengthValidator(4000)]
    )
    # Every cluster membership the organisation has had, former ones too: who counts as a
    # member today is `ClusterMembership.objects.active_on(day)`, never this field alone.
    clusters = models.ManyToManyField(
        Cluster,
        through="ClusterMembership",
        blank=True,
        related_name="organisations",
        verbose_name=_("clusters"),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("organisation")
        verbose_name_plural = _("organisations")
        ordering = ["name"]
        indexes = [models.Index(fields=["kind"]), models.Index(fields=["country"])]

    def __str__(self):
        return self.name

    def get_absolute_url(self):
        return reverse("members:organisation_detail", kwargs={"slug": self.slug})


class ClusterMembershipQuerySet(models.QuerySet):
    def active_on(self, day: date) -> "ClusterMembershipQuerySet":
        """Memberships in force on `day`: started by then and not yet ended."""
        return self.filter(
            Q(joined_on__isnull=True) | Q(joined_on__lte=day),
            Q(left_on__isnull=True) | Q(left_on__gt=day),
        )

    def active_during(self, start: date, end: date) -> "ClusterMembershipQuerySet":
        """Memberships in force on some day of [start, end)."""
        return self.filter(
            Q(joined_on__isnull=True) | Q(joined_on__lt=end),
            Q(left_on__isnull=True) | Q(left_on__gt=start),
        )


class ClusterMembership(models.Model):
    """An organisation's membership of a cluster, kept by the cluster's organisers.

    Members-only access follows the memberships in force today; figures of a past period
    count the memberships in force then. The dates decide; a former member's `left_on` is
    the first day without access.
    """

    class Status(models.TextChoices):
        MEMBER = "member", _("Member")
        PARTNER = "partner", _("Partner")
        FORMER = "former", _("Former member")

    cluster = models.ForeignKey(
        Cluster, on_delete=models.CASCADE, related_name="memberships", verbose_name=_("cluster")
    )
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.CASCADE,
        related_name="cluster_memberships",
        verbose_name=_("organisation"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.MEMBER
    )
    joined_on = models.DateField(
        _("member since"), null=True, blank=True, help_text=_("Empty: since before records.")
    )
    left_on = models.DateField(
        _("left on"), null=True, blank=True, help_text=_("The first day without access.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    objects = ClusterMembershipQuerySet.as_manager()

    class Meta:
        verbose_name = _("cluster membership")
        verbose_name_plural = _("cluster memberships")
        ordering = ["cluster", "organisation"]
        constraints = [
            models.UniqueConstraint(
                fields=["cluster", "organisation"], name="unique_cluster_membership"
            ),
            models.CheckConstraint(
                condition=Q(joined_on__isnull=True)
                | Q(left_on__isnull=True)
                | Q(joined_on__lt=F("left_on")),
                name="cluster_membership_dates_ordered",
            ),
            models.CheckConstraint(
                condition=~Q(status="former") | Q(left_on__isnull=False),
                name="former_member_has_left_on",
            ),
        ]

    def __str__(self):
        return f"{self.organisation} in {self.cluster} ({self.get_status_display()})"

    def is_active_on(self, day: date) -> bool:
        return (self.joined_on is None or self.joined_on <= day) and (
            self.left_on is None or day < self.left_on
        )


class Affiliation(models.Model):
    """A person's link to an organisation: a request until someone entitled confirms it.

    The organisation's admins, the organisers of its clusters or its domain rule confirm;
    leaving or removal ends it. A person has at most one open (requested or confirmed)
    affiliation; ended ones stay as history.
    """

    class Status(models.TextChoices):
        REQUESTED = "requested", _("Requested")
        CONFIRMED = "confirmed", _("Confirmed")
        DECLINED = "declined", _("Declined")
        WITHDRAWN = "withdrawn", _("Withdrawn")
        ENDED = "ended", _("Ended")

    class Via(models.TextChoices):
        ORGANISATION_ADMIN = "organisation_admin", _("an admin of the organisation")
        ORGANISER = "organiser", _("an organiser of the cluster")
        STAFF = "staff", _("site staff")
        DOMAIN = "domain", _("a verified address at the organisation's domain")
        CONTACT = "contact", _("a verified address listed as the organisation's contact")
        EXISTING = "existing", _("carrying over the profile's organisation at the upgrade")

    OPEN = (Status.REQUESTED, Status.CONFIRMED)

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="affiliations",
        verbose_name=_("user"),
    )
    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.CASCADE,
        related_name="affiliations",
        verbose_name=_("organisation"),
    )
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.REQUESTED
    )
    is_admin = models.BooleanField(
        _("organisation admin"),
        default=False,
        help_text=_("Answers the organisation's requests and keeps its domain rule."),
    )
    confirmed_via = models.CharField(
        _("confirmed via"), max_length=24, choices=Via.choices, blank=True
    )
    requested_at = models.DateTimeField(_("requested at"), default=timezone.now)
    decided_at = models.DateTimeField(_("decided at"), null=True, blank=True)
    ended_at = models.DateTimeField(_("ended at"), null=True, blank=True)

    class Meta:
        verbose_name = _("affiliation")
        verbose_name_plural = _("affiliations")
        ordering = ["-requested_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["user"],
                condition=Q(status__in=["requested", "confirmed"]),
                name="one_open_affiliation_per_person",
            ),
            models.CheckConstraint(
                condition=Q(is_admin=False) | Q(status="confirmed"),
                name="only_confirmed_affiliations_admin",
            ),
        ]
        indexes = [models.Index(fields=["organisation", "status"])]

    def __str__(self):
        return f"{self.user} at {self.organisation} ({self.get_status_display()})"


class OrganisationDomain(models.Model):
    """The domain rule: a verified address at this domain confirms the affiliation."""

    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.CASCADE,
        related_name="domains",
        verbose_name=_("organisation"),
    )
    domain = models.CharField(
        _("domain"),
        max_length=253,
        unique=True,
        help_text=_("Exactly the part after @, e.g. acme.example."),
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("organisation domain")
        verbose_name_plural = _("organisation domains")
        ordering = ["domain"]

    def __str__(self):
        return self.domain


class OrganisationContact(models.Model):
    """An address the cluster's CRM lists for an organisation: its owner becomes an admin
    of the organisation once they hold that address, verified, on their account."""

    organisation = models.ForeignKey(
        Organisation,
        on_delete=models.CASCADE,
        related_name="contacts",
        verbose_name=_("organisation"),
    )
    email = models.EmailField(_("email"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("organisation contact")
        verbose_name_plural = _("organisation contacts")
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(
                "organisation", Lower("email"), name="unique_organisation_contact_ci"
            ),
        ]

    def __str__(self):
        return f"{self.email} for {self.organisation}"


class MembershipLog(models.Model):
    """Who decided what about membership, and when. Append-only."""

    class Action(models.TextChoices):
        REQUESTED = "requested", _("requested to join")
        CONFIRMED = "confirmed", _("confirmed")
        DECLINED = "declined", _("declined")
        WITHDRAWN = "withdrawn", _("withdrew the request")
        LEFT = "left", _("left")
        REMOVED = "removed", _("removed")
        ADMIN_GRANTED = "admin_granted", _("made organisation admin")
        ADMIN_REVOKED = "admin_revoked", _("no longer organisation admin")
        DOMAIN_ADDED = "domain_added", _("added a domain rule")
        DOMAIN_REMOVED = "domain_removed", _("removed a domain rule")
        CLUSTER_CHANGED = "cluster_changed", _("changed a cluster membership")
        IMPORTED = "imported", _("imported from the CRM")

    at = models.DateTimeField(_("at"), default=timezone.now)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Empty: decided by a rule (domain, contact list)."),
        verbose_name=_("actor"),
    )
    action = models.CharField(_("action"), max_length=24, choices=Action.choices)
    person = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("person"),
    )
    organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("organisation"),
    )
    cluster = models.ForeignKey(
        Cluster,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("cluster"),
    )
    detail = models.CharField(_("detail"), max_length=240, blank=True)

    class Meta:
        verbose_name = _("membership log")
        verbose_name_plural = _("membership logs")
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["organisation", "at"]),
            models.Index(fields=["cluster", "at"]),
        ]

    def __str__(self):
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_action_display()}"


def profile_photo_path(instance: "Profile", filename: str) -> str:
    # A random name: the file name a member uploads may carry personal data.
    return f"profile-photos/{uuid.uuid4().hex}{Path(filename).suffix.lower()}"


class Profile(models.Model):
    class MentoringStance(models.TextChoices):
        OFFERS = "offers", _("Offers mentoring")
        SEEKS = "seeks", _("Seeks a mentor")
        NEITHER = "neither", _("Neither")

    class Visibility(models.TextChoices):
        CLUSTER = "cluster", _("Members of my clusters")
        MEMBERS = "members", _("All members of this site")
        HIDDEN = "hidden", _("Hidden from the directory")

    class ContactPolicy(models.TextChoices):
        NOBODY = "nobody", _("Nobody")
        CLUSTER = "cluster", _("Members of my clusters")
        MEMBERS = "members", _("All members of this site")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="profile",
        verbose_name=_("user"),
    )
    display_name = models.CharField(
        _("display name"), max_length=120, validators=[validate_single_line]
    )
    # The organisation this person's confirmed affiliation is with (None while a request
    # is pending). Written only by `members/membership.py`, which keeps it in step with
    # `Affiliation`; every member check downstream reads it.
    organisation = models.ForeignKey(
        Organisation,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="profiles",
        help_text=_("Set by confirming the person's affiliation, never typed in."),
        verbose_name=_("organisation"),
    )
    job_title = models.CharField(
        _("job title"), max_length=120, blank=True, validators=[validate_single_line]
    )
    country = CountryField(_("country"), blank=True)
    languages = models.ManyToManyField(
        Language, blank=True, related_name="+", verbose_name=_("languages")
    )
    sectors = models.ManyToManyField(
        Sector, blank=True, related_name="+", verbose_name=_("sectors")
    )
    expertise = models.ManyToManyField(
        Topic,
        blank=True,
        related_name="experts",
        help_text=_("What I can offer."),
        verbose_name=_("expertise"),
    )
    interests = models.ManyToManyField(
        Topic,
        blank=True,
        related_name="interested",
        help_text=_("What I am looking for."),
        verbose_name=_("interests"),
    )
    bio = models.TextField(_("bio"), blank=True, validators=[MaxLengthValidator(2000)])
    # Stored re-encoded, never as uploaded (members/photos.py).
    photo = PhotoField(
        _("photo"),
        upload_to=profile_photo_path,
        blank=True,
        validators=[
            validate_photo_extension,
            validate_photo_size,
            validate_photo_pixels,
        ],
    )
    mentoring_stance = models.CharField(
        _("mentoring stance"),
        max_length=16,
        choices=MentoringStance.choices,
        default=MentoringStance.NEITHER,
    )
    visibility = models.CharField(
        _("visibility"), max_length=16, choices=Visibility.choices, default=Visibility.CLUSTER
    )
    timezone = models.CharField(
        _("timezone"),
        max_length=64,
        default="Europe/Brussels",
        help_text=_("Times are shown in this zone."),
    )
    # The language of the pages this member sees and of every message sent to them. Empty:
    # their browser's language (members.languages).
    preferred_language = models.CharField(
        _("language of the site and your e-mail"),
        max_length=8,
        blank=True,
        choices=settings.LANGUAGES,
    )
    # Who may send this person a message through the site (members/contact.py).
    contact_policy = models.CharField(
        _("who may send me messages"),
        max_length=16,
        choices=ContactPolicy.choices,
        default=ContactPolicy.CLUSTER,
    )
    # Set by an organiser or staff after reports: this person can send no more messages.
    contact_suspended_at = models.DateTimeField(
        _("messages suspended at"), null=True, blank=True, editable=False
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("profile")
        verbose_name_plural = _("profiles")
        ordering = ["display_name"]
        indexes = [
            models.Index(fields=["visibility"]),
            models.Index(fields=["mentoring_stance"]),
            models.Index(fields=["display_name"]),
        ]

    def __str__(self):
        return self.display_name

    def get_absolute_url(self):
        return reverse("members:profile_detail", kwargs={"pk": self.pk})


class GenderIdentity(models.Model):
    """A member's optional, self-identified gender and their consent to anonymous statistics.

    Read only through `members/privacy.py`.
    """

    class Gender(models.TextChoices):
        WOMAN = "woman", _("Woman")
        MAN = "man", _("Man")
        NON_BINARY = "non_binary", _("Non-binary")
        SELF_DESCRIBED = "self_described", _("I prefer to self-describe")
        UNDISCLOSED = "undisclosed", _("I prefer not to say")

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="gender_identity",
        verbose_name=_("user"),
    )
    gender = models.CharField(
        _("gender"), max_length=16, choices=Gender.choices, default=Gender.UNDISCLOSED
    )
    self_description = models.CharField(_("self description"), max_length=60, blank=True)
    statistics_consent = models.BooleanField(_("statistics consent"), default=False)
    # A second, narrower consent: speaking roles are public, so a person's gender may count
    # in the balance of the panels and sessions they appear on only when they said so.
    stage_consent = models.BooleanField(_("stage consent"), default=False)
    consent_changed_at = models.DateTimeField(_("consent changed at"), null=True, blank=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("gender identity")
        verbose_name_plural = _("gender identities")
        constraints = [
            models.CheckConstraint(
                condition=Q(gender="self_described") | Q(self_description=""),
                name="self_description_only_when_self_described",
            ),
        ]

    def __str__(self):
        # Deliberately without the gender: this string can end up in logs and admin pages.
        return f"Gender self-identification of user #{self.user_id}"


class MessagePreferences(models.Model):
    """Which optional messages a member gets. No row means the defaults: everything.

    Transactional mail (registration confirmations, changes, cancellations) is not
    optional and is not governed here. Read and written through `members/preferences.py`.
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="message_preferences",
        verbose_name=_("user"),
    )
    invitations = models.BooleanField(_("invitations to events"), default=True)
    invitation_topics = models.ManyToManyField(
        Topic,
        blank=True,
        related_name="+",
        verbose_name=_("invitation topics"),
        help_text=_("Only invitations about these topics; none = all."),
    )
    reminders = models.BooleanField(_("reminders before events I registered for"), default=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("message preferences")
        verbose_name_plural = _("message preferences")

    def __str__(self):
        return f"Message preferences of user #{self.user_id}"


class StatisticsAccess(models.Model):
    """Who looked at or exported gender-balance figures, when, and with which filter."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("user"),
    )
    cluster = models.ForeignKey(
        Cluster,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("cluster"),
    )
    view = models.CharField(_("view"), max_length=80)
    filters = models.JSONField(_("filters"), default=dict, blank=True)
    at = models.DateTimeField(_("at"), auto_now_add=True)

    class Meta:
        ordering = ["-at", "-pk"]
        verbose_name = _("statistics access")
        verbose_name_plural = _("statistics accesses")
        indexes = [models.Index(fields=["cluster", "at"])]

    def __str__(self):
        return f"{self.view} by user #{self.user_id} at {self.at:%Y-%m-%d %H:%M}"


class ImportJob(models.Model):
    """An uploaded file imported in the background: who started it, into what, how far it
    got and what came of it. Written only by `members.imports`; each app runs its own
    kinds. Deleted IMPORT_JOB_RETENTION_DAYS after it was created: it holds the file."""

    class Kind(models.TextChoices):
        ATTENDANCE = "events.attendance", _("attendance import")
        CRM_PREVIEW = "members.crm_preview", _("member organisations: preview")
        CRM_APPLY = "members.crm_apply", _("member organisations: import")

    class Status(models.TextChoices):
        QUEUED = "queued", _("waiting to start")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")
        STALLED = "stalled", _("stopped before it finished")

    kind = models.CharField(_("kind"), max_length=32, choices=Kind.choices)
    # What the job imports into, e.g. "event:12" or "cluster:3": members cannot point at
    # an event, and the views check it against the page's own object.
    scope = models.CharField(_("scope"), max_length=40)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="import_jobs",
        verbose_name=_("actor"),
    )
    # The preview an import job applies (at most one import per preview).
    source = models.OneToOneField(
        "self",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="follow_up",
        verbose_name=_("source"),
    )
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    content = models.BinaryField(_("content"), blank=True, default=b"")
    status = models.CharField(
        _("status"), max_length=16, choices=Status.choices, default=Status.QUEUED
    )
    rows_done = models.PositiveIntegerField(_("rows done"), default=0)
    rows_total = models.PositiveIntegerField(_("rows total"), null=True, blank=True)
    result = models.JSONField(_("result"), default=dict, blank=True)
    errors = models.JSONField(_("errors"), default=list, blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    created_at = models.DateTimeField(_("created at"), default=timezone.now)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    # Moves with every state change and progress report: the sweep's sign of life.
    updated_at = models.DateTimeField(_("updated at"), default=timezone.now)

    class Meta:
        verbose_name = _("import job")
        verbose_name_plural = _("import jobs")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["actor", "scope", "created_at"]),
            models.Index(fields=["status", "updated_at"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self):
        return f"{self.get_kind_display()} #{self.pk} ({self.status})"

    @property
    def in_progress(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)


class ContactMessage(models.Model):
    """A message one member sent another through the site (members/contact.py).

    Kept for the rate limit and for reports; the subject and body are blanked
    CONTACT_MESSAGE_RETENTION_DAYS after sending (not while a report about it is open).
    """

    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="contact_messages_sent",
        verbose_name=_("sender"),
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="contact_messages_received",
        verbose_name=_("recipient"),
    )
    subject = models.CharField(_("subject"), max_length=160, validators=[validate_single_line])
    body = models.TextField(_("message"), validators=[MaxLengthValidator(5000)])
    created_at = models.DateTimeField(_("sent at"), default=timezone.now)
    content_deleted_at = models.DateTimeField(_("content deleted at"), null=True, blank=True)

    class Meta:
        verbose_name = _("contact message")
        verbose_name_plural = _("contact messages")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["sender", "created_at"]),
            models.Index(fields=["recipient", "sender"]),
            models.Index(fields=["created_at"]),
        ]

    def __str__(self):
        return f"Contact message #{self.pk}"


class ContactReport(models.Model):
    """A recipient's report of a message. It also blocks the sender from writing to the
    reporter again; organisers of the sender's clusters (and staff) handle it."""

    class Reason(models.TextChoices):
        SPAM = "spam", _("Unsolicited advertising or spam")
        HARASSMENT = "harassment", _("Harassment or threats")
        INAPPROPRIATE = "inappropriate", _("Inappropriate content")
        OTHER = "other", pgettext_lazy("report reason", "Something else")

    message = models.OneToOneField(
        ContactMessage,
        on_delete=models.CASCADE,
        related_name="report",
        verbose_name=_("message"),
    )
    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="contact_reports_made",
        verbose_name=_("reported by"),
    )
    # The message's sender, kept here so a block and an organiser's list need no join.
    sender = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="contact_reports_received",
        verbose_name=_("sender"),
    )
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    details = models.TextField(_("details"), blank=True, validators=[MaxLengthValidator(2000)])
    created_at = models.DateTimeField(_("reported at"), default=timezone.now)
    handled_at = models.DateTimeField(_("handled at"), null=True, blank=True)
    handled_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name=_("handled by"),
    )

    class Meta:
        verbose_name = _("contact report")
        verbose_name_plural = _("contact reports")
        ordering = ["-created_at", "-pk"]
        indexes = [
            models.Index(fields=["reporter", "sender"]),
            models.Index(fields=["sender", "created_at"]),
        ]

    def __str__(self):
        return f"Report #{self.pk} of contact message #{self.message_id}"


class TableChange(models.Model):
    """One committed change to a set of tables, written only by database triggers
    (`members.table_versions`). Never updated in place: the set's version is the sum of
    these rows, so it grows with every commit and no two writers wait for the same row.
    The hourly fold keeps the table small."""

    changes = models.BigIntegerField(_("changes"))  # 1, or a folded sum
    # A random number per change (a folded row: their sum): after a rollback, or a restore
    # from a backup, the same count of changes still gives another version.
    token = models.BigIntegerField(_("token"))

    class Meta:
        abstract = True

    def __str__(self):
        return f"{self._meta.verbose_name} #{self.pk}"


class DirectoryChange(TableChange):
    """A change to what the member directory shows, or to whom (members.directory_version)."""

    class Meta:
        verbose_name = _("directory change")
        verbose_name_plural = _("directory changes")
