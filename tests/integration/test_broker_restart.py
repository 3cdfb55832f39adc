"""A broker restart in the middle of a campaign: every invitation still arrives, once,
within two minutes of the restart.

The test runs its own Redis without persistence (the failure the README guards against:
a restart loses every queued task), a real worker and a real beat process on it, real
PostgreSQL and a real SMTP server. Redis is killed while the fan-out is mid-way; what
brings the rest of the mail through is what runs in production: beat's stalled-campaign
sweep (which resumes the fan-out from the cursor stored on the campaign) and its outbox
sweep (which re-enqueues invitations whose tasks were lost), every 15 s and every 30 s,
with the production settings.
"""

import json
import shutil
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import redis
from django.utils import timezone

from events import campaigns
from events.models import Campaign, CampaignRecipient
from notifications.models import OutboxMessage
from tests.events.factories import EventFactory
from tests.factories import OrganisationFactory
from tests.integration.conftest import ROOT, Workers, free_port, port_open, unavailable
from tests.integration.test_campaign_delivery import make_members

pytestmark = pytest.mark.integration

AUDIENCE = 1000
CHUNK_SIZE = 25  # forty fan-out chunks, so Redis dies with the fan-out mid-way
RESTART_AT = 150  # invitations received when Redis is killed
DOWN_FOR = 3  # seconds without a broker
# Worker processes: the compose file's worker runs four (--concurrency=4); three solo
# ones here, so sending 850 invitations does not take most of the two minutes.
WORKERS = 3
WITHIN = 120  # seconds from the restart to the last invitation (the bound)


class OwnRedis:
    """A `redis-server` process of this test's own, without persistence."""

    def __init__(self, binary: str, port: int, directory: Path) -> None:
        self.argv = [
            binary,
            "--port", str(port),
            "--bind", "127.0.0.1",
            "--save", "",
            "--appendonly", "no",
            "--dir", str(directory),
        ]  # fmt: skip
        self.port = port
        self.url = f"redis://127.0.0.1:{port}/0"
        self.process: subprocess.Popen | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 10
        while not port_open("127.0.0.1", self.port):
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"redis-server did not start on port {self.port}")
            time.sleep(0.05)

    def fanout_waiting_behind(self) -> int:
        """How many tasks wait before the campaign fan-out task in the queue; -1 if none
        waits. (Kombu pushes on the left of the "celery" list, workers pop on the right.)"""
        queue = redis.Redis.from_url(self.url).lrange("celery", 0, -1)
        for ahead, raw in enumerate(reversed(queue)):
            if json.loads(raw)["headers"]["task"] == "events.tasks.campaign_fanout_task":
                return ahead
        return -1

    def kill(self) -> None:
        """SIGKILL: whatever the queue held is gone."""
        self.process.kill()
        self.process.wait(10)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@pytest.fixture
def own_redis(tmp_path) -> Iterator[OwnRedis]:
    binary = shutil.which("redis-server")
    if binary is None:
        unavailable("redis-server is not installed; the broker-restart test starts its own")
    port = 6391 if not port_open("127.0.0.1", 6391) else free_port()
    server = OwnRedis(binary, port, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def processes(own_redis, smtp_server, transactional_db) -> Iterator[Workers]:
    """Workers and beat on `own_redis`; all stopped at the end."""
    _, smtp_port = smtp_server
    started = Workers(own_redis.url, smtp_port)
    try:
        yield started
    finally:
        started.stop_all()


def press_send(*, env: dict, campaign: Campaign, organiser) -> None:
    """The organiser presses send in a process of its own, as in a gunicorn worker: its
    Celery publishes to the Redis under test (this test process's points elsewhere)."""
    code = (
        "from events import campaigns; from events.models import Campaign; "
        "from members.models import User; "
        f"campaigns.campaign_send(campaign=Campaign.objects.get(pk={campaign.pk}), "
        f"by=User.objects.get(pk={organiser.pk}), chunk_size={CHUNK_SIZE})"
    )
    subprocess.run(
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        check=True,
        timeout=120,
        capture_output=True,
    )


def state(campaign: Campaign, batch) -> str:
    campaign.refresh_from_db()
    return (
        f"campaign {campaign.status} at {campaign.fanout_after_user}, "
        f"{CampaignRecipient.objects.filter(campaign=campaign).count()} recipients, "
        f"outbox {dict(Counter(batch.values_list('status', flat=True)))}"
    )


def keep_logs(directory: Path, processes: list[subprocess.Popen]) -> Path:
    """Write the processes' output where a failing run can be read; returns the folder."""
    for number, process in enumerate(processes):
        (directory / f"process-{number}.log").write_text("".join(process.log))
    return directory


def test_a_broker_restart_mid_campaign_delays_each_invitation_by_at_most_two_minutes(
    postgres, own_redis, processes, smtp_server, cluster, organiser, tmp_path, capsys
):
    mailbox, _ = smtp_server
    organisation = OrganisationFactory(name="Keller Antriebstechnik", clusters=[cluster])
    invitees = make_members(organisation=organisation, count=AUDIENCE)
    event = EventFactory(clusters=[cluster], title="Hydrogen Day", venue_name="Tabakfabrik")
    campaign = campaigns.campaign_create(event=event, by=organiser, clusters=[cluster])
    batch = OutboxMessage.objects.filter(batch=campaigns.campaign_batch(campaign))

    # One send task per invitation, as before campaigns were sent in batches: the kill must
    # find the fan-out's next chunk waiting behind a queue of sends, and with 25-invitation
    # chunks sent 50 at a time that queue rarely holds more than one task. Batches under a
    # killed worker: tests/notifications/test_batch_delivery.py and test_outbox_delivery.py.
    processes.env["OUTBOX_SEND_BATCH"] = "1"
    workers = [processes.start() for _ in range(WORKERS)]
    beat = processes.start_beat(tmp_path / "celerybeat-schedule")
    press_send(env=processes.env, campaign=campaign, organiser=organiser)
    pressed = time.monotonic()

    # Kill Redis while the fan-out's next chunk is a task waiting in its queue behind a
    # chunk's invitations (not one a worker is running): it is lost with the queue.
    deadline = time.monotonic() + 120
    while not (len(mailbox.messages) >= RESTART_AT and own_redis.fanout_waiting_behind() > 5):
        assert time.monotonic() < deadline, state(campaign, batch)
        time.sleep(0.02)
    own_redis.kill()
    received_before = len(mailbox.messages)
    rate = received_before / (time.monotonic() - pressed)
    fanned_out = CampaignRecipient.objects.filter(campaign=campaign).count()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING, state(campaign, batch)
    assert campaign.fanout_after_user > 0
    assert fanned_out < AUDIENCE, state(campaign, batch)
    assert RESTART_AT <= len(mailbox.messages) < fanned_out, state(campaign, batch)

    time.sleep(DOWN_FOR)
    own_redis.start()
    restarted = time.monotonic()

    last_arrival = resumed_at = None
    while time.monotonic() < restarted + WITHIN:
        if len(mailbox.messages) >= AUDIENCE:
            last_arrival = time.monotonic()
            break
        if (
            resumed_at is None
            and Campaign.objects.filter(
                pk=campaign.pk, fanout_after_user__gt=campaign.fanout_after_user
            ).exists()
        ):
            resumed_at = time.monotonic()
        time.sleep(0.1)
    assert last_arrival is not None, (
        f"{len(mailbox.messages)} of {AUDIENCE} invitations {WITHIN} s after the restart; "
        f"{state(campaign, batch)}; logs in {keep_logs(tmp_path, [*workers, beat])}"
    )
    with capsys.disabled():
        print(
            f"\nbroker restart at {received_before}/{AUDIENCE} invitations received "
            f"({fanned_out} fanned out): the fan-out went on {resumed_at - restarted:.1f} s "
            f"and the last invitation arrived {last_arrival - restarted:.1f} s after Redis "
            f"was back ({WORKERS} workers delivered {rate:.0f} invitations/s before it)"
        )

    # Nothing else is on its way: the campaign is sent, every row too.
    deadline = time.monotonic() + 30
    while batch.exclude(status=OutboxMessage.Status.SENT).exists() or (
        Campaign.objects.get(pk=campaign.pk).status != Campaign.Status.SENT
    ):
        assert time.monotonic() < deadline, state(campaign, batch)
        time.sleep(0.2)
    time.sleep(2)  # a straggling duplicate, if any, would arrive now

    received = Counter(message["To"] for message in mailbox.messages)
    assert set(received) == set(invitees)
    assert [address for address, n in received.items() if n > 1] == []
    assert len(mailbox.messages) == AUDIENCE
    assert len({message["Message-ID"] for message in mailbox.messages}) == AUDIENCE
    campaign.refresh_from_db()
    assert campaign.recipient_count == AUDIENCE
    assert batch.count() == AUDIENCE
    # The fan-out's next chunk was lost with the queue; beat's sweep resumed it, once.
    resumed = [line for worker in workers for line in worker.log if "resuming it at" in line]
    assert len(resumed) == 1, (resumed, keep_logs(tmp_path, [*workers, beat]))


def test_the_sweeps_learn_when_a_redis_broker_restarted(own_redis, monkeypatch):
    """`notifications.broker` reads the broker's start from Redis itself: a restart is
    seen at the next sweep, so what was queued before it goes out again at once."""
    from celery import current_app

    from notifications.broker import broker_started_at

    monkeypatch.setattr(current_app.conf, "broker_url", own_redis.url)
    monkeypatch.setattr(current_app.conf, "broker_write_url", own_redis.url)
    time.sleep(2.5)
    first = broker_started_at()
    assert first is not None

    own_redis.kill()
    assert broker_started_at() is None  # down: the time rules act alone
    own_redis.start()
    restarted = broker_started_at()

    assert restarted is not None
    assert restarted - first >= timedelta(seconds=2)
    assert abs((timezone.now() - restarted).total_seconds()) < 2
