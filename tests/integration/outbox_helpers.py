"""Helpers shared by the integration tests that kill a worker mid-delivery."""

import time

from notifications.models import OutboxMessage


def wait_for_the_row_stuck_in_smtp(mailbox, timeout: float = 10) -> int:
    """The message the worker has claimed and cannot deliver: `sending`, to an address
    the SMTP server has not received anything for.

    Just after the last accepted message arrives, its own row is still `sending` for a
    moment (the worker has yet to mark it sent); that row is not the one a kill interrupts.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        delivered = {message["To"] for message in list(mailbox.messages)}
        stuck = list(
            OutboxMessage.objects.filter(status=OutboxMessage.Status.SENDING)
            .exclude(recipient__in=delivered)
            .values_list("pk", flat=True)
        )
        if stuck:
            [pk] = stuck  # a solo worker holds one message at a time
            return pk
        time.sleep(0.05)
    raise AssertionError("no message is stuck in the SMTP conversation")
