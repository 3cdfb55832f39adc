"""Real threads released together, each with its own database connection."""

import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from events.models import Event


def run_together(calls: list) -> tuple[list, list[BaseException]]:
    """Run every call in its own thread, released at the same instant; results and errors."""
    barrier = threading.Barrier(len(calls))
    results, errors, lock = [], [], threading.Lock()

    def work(call) -> None:
        try:
            barrier.wait(timeout=30)
            result = call()
            with lock:
                results.append(result)
        except BaseException as error:  # noqa: BLE001 -- every failure is reported by the test
            with lock:
                errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results, errors


@contextmanager
def transaction_held_open(work: Callable[[], object]) -> Iterator[threading.Event]:
    """`work` runs in a transaction on another connection, which stays open through the
    block, or until the event it yields is set; then it commits."""
    done, release = threading.Event(), threading.Event()

    def hold() -> None:
        try:
            with transaction.atomic():
                work()
                done.set()
                release.wait(30)
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert done.wait(10), "the other transaction did not get going"
        yield release
    finally:
        release.set()
        holder.join(10)


def seat_lock_held(event: Event):
    """Another connection holds `event`'s seat lock (its row, FOR UPDATE) for the block."""
    return transaction_held_open(lambda: Event.objects.select_for_update().get(pk=event.pk))
