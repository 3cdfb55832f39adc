"""A 500-recipient campaign reaches each person once although a worker is SIGKILLed mid-run.

Real Redis, real `celery worker` processes and a real SMTP server: the fan-out runs in
chunks on the worker, the worker is killed while it is in the middle of an SMTP
conversation, a new one takes over, and the outbox sweeper rescues the lost message.
"""

import time
from collections import Counter

import pytest
from django.contrib.auth.hashers import make_password

from events import campaigns
from events.models import Campaign, CampaignRecipient
from members.models import Profile, User
from notifications.models import OutboxMessage
from notifications.services import outbox_sweep
from tests.events.factories import EventFactory
from tests.factories import OrganisationFactory
from tests.integration.outbox_helpers import wait_for_the_row_stuck_in_smtp

pytestmark = pytest.mark.integration

AUDIENCE = 500
CHUNK_SIZE = 100  # five fan-out chunks, so the worker is killed between two of them
STALL_AT = 250  # the 251st invitation hangs in the SMTP conversation


def make_members(*, organisation, count: int) -> list[str]:
    """`count` active members of `organisation`, written in bulk (one hashed password)."""
    password = make_password("pw-Secret-123!")
    users = User.objects.bulk_create(
        [
            User(email=f"invitee{i:03}@example.org", password=password, is_active=True)
            for i in range(count)
        ]
    )
    Profile.objects.bulk_create(
        [
            Profile(user=user, display_name=f"Invitee {i:03}", organisation=organisation)
            for i, user in enumerate(users)
        ]
    )
    return [user.email for user in users]


def test_500_recipient_campaign_delivers_once_each_although_the_worker_is_killed_mid_run(
    postgres, celery_workers, smtp_server, settings, cluster, organiser
):
    mailbox, _ = smtp_server
    organisation = OrganisationFactory(name="Keller Antriebstechnik", clusters=[cluster])
    invitees = make_members(organisation=organisation, count=AUDIENCE)
    event = EventFactory(clusters=[cluster], title="Hydrogen Day", venue_name="Tabakfabrik")
    campaign = campaigns.campaign_create(event=event, by=organiser, clusters=[cluster])
    assert campaigns.campaign_preview_count(campaign=campaign) == AUDIENCE

    mailbox.stall_after = STALL_AT
    first = celery_workers.start()
    campaigns.campaign_send(campaign=campaign, by=organiser, chunk_size=CHUNK_SIZE)
    mailbox.wait_for(STALL_AT, timeout=90)
    in_flight = wait_for_the_row_stuck_in_smtp(mailbox)
    first.kill()  # SIGKILL: its unacknowledged task stays with Redis (6 h visibility)
    first.wait(10)
    mailbox.stall_after = None  # the dead worker's half-sent message is refused
    assert len(mailbox.messages) == STALL_AT
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENDING  # killed mid-run, not at the end

    celery_workers.start()
    # Longer than any single send takes on a loaded machine: a shorter fuse would take
    # over messages a live worker is still sending, which is a test artefact, not a loss.
    settings.OUTBOX_SENDING_STALE_AFTER_SECONDS = 30
    settings.OUTBOX_REQUEUE_AFTER_SECONDS = 5
    batch = OutboxMessage.objects.filter(batch=campaigns.campaign_batch(campaign))
    deadline = time.monotonic() + 180
    while True:
        campaign.refresh_from_db()
        done = (
            campaign.status == Campaign.Status.SENT
            and batch.count() == AUDIENCE
            and not batch.exclude(status=OutboxMessage.Status.SENT).exists()
        )
        if done:
            break
        assert time.monotonic() < deadline, (
            campaign.status,
            Counter(batch.values_list("status", flat=True)),
        )
        outbox_sweep()
        time.sleep(1)
    time.sleep(1)  # let a straggling duplicate, if any, arrive before counting

    received = Counter(message["To"] for message in mailbox.messages)
    assert set(received) == set(invitees)
    assert [address for address, n in received.items() if n > 1] == []
    assert len(mailbox.messages) == AUDIENCE
    assert len({message["Message-ID"] for message in mailbox.messages}) == AUDIENCE
    assert all("Hydrogen Day" in message["Subject"] for message in mailbox.messages)

    assert campaign.status == Campaign.Status.SENT
    assert campaign.sent_at is not None
    assert campaign.recipient_count == AUDIENCE
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == AUDIENCE
    assert batch.count() == AUDIENCE  # one invitation row per person
    assert OutboxMessage.objects.get(pk=in_flight).attempts == 2
    assert set(batch.exclude(pk=in_flight).values_list("attempts", flat=True)) == {1}
