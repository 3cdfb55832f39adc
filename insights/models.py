"""Releases: gender figures drawn once, with noise, and kept.

Every gender figure an organiser sees is computed from these rows only (sums, shares,
charts, CSV), so looking again, through another filter or in another export adds nothing
to what a release told once. `members.privacy` draws them and states the guarantee."""

from django.db import models
from django.db.models import Q

from events.models import Event, Session
from matchmaking.models import Programme
from members.models import Cluster


class Release(models.Model):
    """One draw for one subject: an ended event, a cluster's quarter, an ended programme."""

    class Subject(models.TextChoices):
        EVENT = "event", "Event"
        PIPELINE = "pipeline", "Cluster pipeline of a quarter"
        PROGRAMME = "programme", "Mentoring programme"

    subject = models.CharField(max_length=16, choices=Subject.choices)
    event = models.ForeignKey(
        Event, null=True, blank=True, on_delete=models.CASCADE, related_name="releases"
    )
    cluster = models.ForeignKey(
        Cluster, null=True, blank=True, on_delete=models.CASCADE, related_name="releases"
    )
    period_start = models.DateField(null=True, blank=True)  # a pipeline's quarter
    programme = models.ForeignKey(
        Programme, null=True, blank=True, on_delete=models.CASCADE, related_name="releases"
    )
    drawn_at = models.DateTimeField(auto_now_add=True)
    sigma = models.FloatField()  # the noise it was drawn with (the guarantee follows)

    class Meta:
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

    release = models.ForeignKey(Release, on_delete=models.CASCADE, related_name="cells")
    session = models.ForeignKey(
        Session, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    measure = models.CharField(max_length=24)
    total = models.IntegerField()
    woman = models.IntegerField()
    man = models.IntegerField()
    non_binary = models.IntegerField()
    self_described = models.IntegerField()
    undisclosed = models.IntegerField()

    class Meta:
        indexes = [models.Index(fields=["release", "measure"])]

    def __str__(self):
        return f"Released {self.measure} of release #{self.release_id}"
