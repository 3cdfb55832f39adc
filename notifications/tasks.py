import smtplib

from celery import shared_task

# Network trouble and 4xx answers are worth retrying; a refused recipient (5xx) is not.
TRANSIENT_ERRORS = (
    ConnectionError,
    TimeoutError,
    smtplib.SMTPServerDisconnected,
    smtplib.SMTPConnectError,
)


@shared_task(
    bind=True,
    autoretry_for=TRANSIENT_ERRORS,
    retry_backoff=30,
    retry_backoff_max=30 * 60,
    retry_jitter=True,
    max_retries=8,
)
def email_send_task(self, *, payload: dict) -> None:
    from notifications.services import email_message_from_payload

    email_message_from_payload(payload).send()
