"""Releases: gender figures drawn once, with noise, and kept.

Every gender figure an organiser sees is computed from these rows only (sums, shares,
charts, CSV), so looking again, through another filter or in another export adds nothing
to what a release told once. `members.privacy` draws them and states the guarantee."""

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from events.models import Event, Session
from matchmaking.models import Programme
from members.models import Cluster


class Release(models.Model):
    """One draw for one subject: an ended event, a cluster's quarter, an ended programme."""

    class Subject(models.TextChoices):
        EVENT = "event", _("Event")
        PIPELINE = "pipeline", _("Cluster pipeline of a quarter")
        PROGRAMME = "programme", _("Mentoring programme")

    subject = models.CharField(_("subject"), max_length=16, choices=Subject.choices)
    event = models.ForeignKey(
        Event,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="releases",
        verbose_name=_("event"),
    )
    cluster = models.ForeignKey(
        Cluster,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="releases",
        verbose_name=_("cluster"),
    )
    period_start = models.DateField(
        _("period start"), null=True, blank=True
    )  # a pipeline's quarter
    programme = models.ForeignKey(
        Programme,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="releases",
        verbose_name=_("programme"),
    )
    drawn_at = models.DateTimeField(_("drawn at"), auto_now_add=True)
    sigma = models.FloatField(_("sigma"))  # the noise it was drawn with (the guarantee follows)

    class Meta:
        verbose_name = _("release")
        verbose_name_plural = _("releases")
        constraints = [
            models.UniqueConstraint(
                fields=["event"], condition=Q(subject="event"), name="one_release_per_event"
            ),
            models.UniqueConstraint(
                fields=["cluster", "period_start"],
                condition=Q(subject="pipeline"),
                name="one_pipeline_release_per_quarter",
            ),
            models.UniqueConstraint(
                fields=["programme"],
                condition=Q(subject="programme"),
                name="one_release_per_programme",
            ),
            models.CheckConstraint(
                condition=(
                    Q(subject="event", event__isnull=False)
                    | Q(subject="pipeline", cluster__isnull=False, period_start__isnull=False)
                    | Q(subject="programme", programme__isnull=False)
                ),
                name="release_has_its_subject",
            ),
        ]

    def __str__(self):
        return f"Release #{self.pk} ({self.subject})"


class ReleasedCell(models.Model):
    """One released row: what was counted (a registration status, a pipeline or programme
    stage), the exact number of rows (not about anyone's gender) and the noisy count per
    statistics category. Never the gender of anyone."""

    release = models.ForeignKey(
        Release, on_delete=models.CASCADE, related_name="cells", verbose_name=_("release")
    )
    session = models.ForeignKey(
        Session,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name=_("session"),
    )
    measure = models.CharField(_("measure"), max_length=24)
    total = models.IntegerField(_("total"))
    woman = models.IntegerField(_("woman"))
    man = models.IntegerField(_("man"))
    non_binary = models.IntegerField(_("non binary"))
    self_described = models.IntegerField(_("self described"))
    undisclosed = models.IntegerField(_("undisclosed"))

    class Meta:
        verbose_name = _("released cell")
        verbose_name_plural = _("released cells")
        indexes = [models.Index(fields=["release", "measure"])]

    def __str__(self):
        return f"Released {self.measure} of release #{self.release_id}"
