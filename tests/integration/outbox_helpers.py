"""Helpers shared by the integration tests that kill a worker mid-delivery."""

import time

from notifications.models import OutboxMessage


def wait_for_one_row_in_sending(timeout: float = 10) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        sending = list(
            OutboxMessage.objects.filter(status=OutboxMessage.Status.SENDING).values_list(
                "pk", flat=True
            )
        )
        if sending:
            [pk] = sending  # a solo worker holds one message at a time
            return pk
        time.sleep(0.05)
    raise AssertionError("no message is being sent")
