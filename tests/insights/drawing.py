"""Drawing releases in tests as the hourly job would."""

from datetime import datetime, time, timedelta

from django.conf import settings
from django.utils import timezone

from insights import services


def draw_quarter(cluster, start):
    """Draw a cluster's pipeline of the quarter of `start` as the hourly job does just
    after that quarter ends (pages never draw pipelines)."""
    _start, end = services.quarter_of(start)
    ended = datetime.combine(end, time(), tzinfo=timezone.get_current_timezone())
    now = ended + timedelta(hours=settings.PRIVACY_RELEASE_AFTER_HOURS + 1)
    return services.pipeline_release_draw(cluster=cluster, start=start, now=now)
