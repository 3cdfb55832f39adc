from celery import shared_task

from insights import services


@shared_task(acks_late=True)
def releases_draw_due_task() -> int:
    """Draw every release that is due (events two days after they end, ended quarters,
    ended programmes). Idempotent: a subject is released once."""
    return services.releases_draw_due()
