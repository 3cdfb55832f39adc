from celery import shared_task

from notifications import services


@shared_task(
    autoretry_for=(services.TransientDeliveryError,),
    retry_backoff=True,
    retry_backoff_max=600,  # below the Redis visibility_timeout (settings)
    retry_jitter=True,
    max_retries=8,
)
def outbox_send_task(*, message_id: int) -> None:
    services.outbox_send(message_id=message_id)


@shared_task(
    autoretry_for=(services.TransientDeliveryError,),
    retry_backoff=True,
    retry_backoff_max=600,
    retry_jitter=True,
    max_retries=8,
)
def outbox_send_batch_task(*, message_ids: list[int]) -> None:
    services.outbox_send_batch(message_ids=message_ids)


@shared_task
def outbox_sweep_task() -> int:
    return services.outbox_sweep()


@shared_task
def outbox_purge_bodies_task() -> int:
    return services.outbox_purge_bodies()
