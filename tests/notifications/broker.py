"""Tasks that wait in a broker queue instead of running at once, and a tiny worker.

The suite runs tasks eagerly; tests of lost, duplicate and backlogged tasks need them to
wait. With `task_always_eager` off, `.delay()` publishes to the in-memory kombu broker
the settings name when no Redis is configured; `run_all` then plays the worker (in queue
order, each task inside a captured transaction so its after-commit tasks are published
too) and `lose_all` plays a broker restart without persistence.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from queue import Empty

from config.celery import app

QUEUE = "celery"


class BrokerQueue:
    def __init__(self, capture_on_commit: Callable) -> None:
        self.capture_on_commit = capture_on_commit
        # Every task run by `run_all`, in order, as (task name, keyword arguments).
        self.ran: list[tuple[str, dict]] = []

    @contextmanager
    def _queue(self) -> Iterator:
        with app.connection_for_write() as connection:
            queue = connection.SimpleQueue(QUEUE)
            try:
                yield queue
            finally:
                queue.close()

    def pending(self) -> list[tuple[str, dict]]:
        """The waiting tasks, oldest first; they stay in the queue."""
        with self._queue() as queue:
            waiting = []
            while True:
                try:
                    message = queue.get(block=False)
                except Empty:
                    break
                waiting.append(message)
            tasks = [(m.headers["task"], m.decode()[1]) for m in waiting]
            for message in waiting:
                message.requeue()
        return tasks

    def _run_next(self) -> tuple[str, dict] | None:
        with self._queue() as queue:
            try:
                message = queue.get(block=False)
            except Empty:
                return None
            message.ack()
        name, (args, kwargs, _embed) = message.headers["task"], message.decode()
        with self.capture_on_commit(execute=True):
            app.tasks[name].apply(args=args, kwargs=kwargs)
        self.ran.append((name, kwargs))
        return name, kwargs

    def run_one(self) -> tuple[str, dict]:
        task = self._run_next()
        assert task is not None, "no task was waiting"
        return task

    def run_all(self, limit: int = 1000) -> list[tuple[str, dict]]:
        """Run waiting tasks in order, and those they queue, until none is left; returns
        what ran."""
        ran = []
        while (task := self._run_next()) is not None:
            ran.append(task)
            assert len(ran) < limit, f"still tasks waiting after {limit}"
        return ran

    def lose_all(self) -> int:
        """What a broker restart without persistence does; returns how many were lost."""
        with app.connection_for_write() as connection:
            return connection.default_channel.queue_purge(QUEUE) or 0


@contextmanager
def tasks_waiting(capture_on_commit: Callable) -> Iterator[BrokerQueue]:
    """Within: `.delay()` leaves the task in the broker queue (empty at the start)."""
    conf = app.conf
    eager = conf.task_always_eager
    conf.task_always_eager = False
    queue = BrokerQueue(capture_on_commit)
    queue.lose_all()
    try:
        yield queue
    finally:
        queue.lose_all()
        conf.task_always_eager = eager
