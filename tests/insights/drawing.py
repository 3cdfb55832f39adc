"""Drawing releases in tests as the hourly job would."""

from datetime import timedelta

from django.conf import settings

from insights import services


def draw_quarter(cluster, start):
    """Draw a cluster's pipeline of the quarter of `start` as the hourly job does just
    after that quarter ends (pages never draw pipelines)."""
    _start, end = services.quarter_of(start)
    now = services.day_start(end) + timedelta(hours=settings.PRIVACY_RELEASE_AFTER_HOURS + 1)
    return services.pipeline_release_draw(cluster=cluster, start=start, now=now)
