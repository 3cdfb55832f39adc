"""Real threads released together, each with its own database connection."""

import threading

from django.db import connection


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
