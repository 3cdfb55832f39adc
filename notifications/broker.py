"""When the broker last started, so that a restart is noticed at the next sweep.

A Redis broker that keeps nothing on disk loses every waiting task when it restarts:
rows and campaigns whose task was queued before that moment are certainly lost and are
queued again at once, instead of after the time rules (`services._lost`) that catch
losses nobody can see. Other brokers (RabbitMQ with durable queues) keep their tasks;
for them, and when the broker cannot be asked, this says nothing and the time rules act.
"""

import logging
from datetime import datetime, timedelta

from celery import current_app
from django.utils import timezone

logger = logging.getLogger(__name__)


def broker_started_at(*, now: datetime | None = None) -> datetime | None:
    """When the Redis broker started (from its uptime), or None if it cannot tell.

    Rounded up to the second Redis reports: a task queued in that second may be queued
    again, which sends nothing twice (the outbox and the fan-out are idempotent).
    """
    now = now or timezone.now()
    try:
        with current_app.connection_for_write() as connection:
            client = getattr(connection.default_channel, "client", None)
            if client is None or not hasattr(client, "info"):
                return None  # not Redis (the in-memory broker, RabbitMQ …)
            uptime = int(client.info("server")["uptime_in_seconds"])
    except Exception as error:  # a broker that is down or odd must not stop the sweep
        logger.warning("could not ask the broker when it started: %s", error)
        return None
    return now - timedelta(seconds=uptime)
