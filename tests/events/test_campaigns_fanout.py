"""A campaign's fan-out lives in the database: its cursor survives a lost task or a
broker restart, a stalled campaign goes on from where it stopped, and a stale duplicate
task stops instead of inviting anyone twice."""

from collections import Counter
from datetime import timedelta

import pytest
from django.conf import settings as django_settings
from django.utils import timezone

from events import campaigns
from events.models import Campaign, CampaignRecipient
from events.tasks import campaign_fanout_task
from notifications.models import OutboxMessage
from notifications.services import outbox_sweep
from tests.events.factories import EventFactory
from tests.factories import OrganisationFactory, ProfileFactory
from tests.notifications.broker import tasks_waiting

pytestmark = pytest.mark.django_db

FANOUT = "events.tasks.campaign_fanout_task"
GUESTS = ["a@guest.org", "b@guest.org"]


@pytest.fixture
def broker_queue(django_capture_on_commit_callbacks):
    with tasks_waiting(django_capture_on_commit_callbacks) as queue:
        yield queue


@pytest.fixture
def members(cluster) -> list[str]:
    organisation = OrganisationFactory(clusters=[cluster])
    return [ProfileFactory(organisation=organisation).user.email for _ in range(5)]


@pytest.fixture
def campaign(cluster, organiser, members) -> Campaign:
    event = EventFactory(clusters=[cluster], title="Hydrogen Day")
    return campaigns.campaign_create(
        event=event, by=organiser, clusters=[cluster], emails="\n".join(GUESTS)
    )


def press_send(campaign, organiser, capture) -> None:
    with capture(execute=True):
        campaigns.campaign_send(campaign=campaign, by=organiser, chunk_size=2)


def fanout_runs(broker_queue) -> list[dict]:
    """The fan-out tasks run so far, each with the cursor it expected."""
    return [
        {"after_user": 0, "after_email": "", **kwargs}
        for name, kwargs in broker_queue.ran
        if name == FANOUT
    ]


def stored(campaign: Campaign) -> tuple[int, str]:
    campaign.refresh_from_db()
    return campaign.fanout_after_user, campaign.fanout_after_email


def test_each_chunk_stores_the_cursor_and_when_it_moved(
    campaign, organiser, members, broker_queue, django_capture_on_commit_callbacks
):
    press_send(campaign, organiser, django_capture_on_commit_callbacks)
    campaign.refresh_from_db()
    assert stored(campaign) == (0, "")
    sent_at = campaign.fanout_progress_at
    assert sent_at is not None

    broker_queue.run_one()

    first_two = CampaignRecipient.objects.filter(campaign=campaign).order_by("user_id")
    assert first_two.count() == 2
    assert stored(campaign) == (first_two.last().user_id, "")
    assert campaign.fanout_progress_at > sent_at

    broker_queue.run_all()
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    assert stored(campaign)[1] == max(GUESTS)  # members first, then the uploaded addresses


def test_after_a_broker_restart_the_fan_out_goes_on_from_its_cursor_and_mails_each_once(
    campaign, organiser, members, broker_queue, mailoutbox, django_capture_on_commit_callbacks
):
    press_send(campaign, organiser, django_capture_on_commit_callbacks)
    broker_queue.run_one()  # chunk 1 (members 1-2); queues chunk 2 and two invitations
    broker_queue.run_one()  # chunk 2 (members 3-4)
    cursor = stored(campaign)
    assert cursor[0] > 0

    # The broker restarts without persistence: the next chunk and the invitations are gone.
    assert broker_queue.lose_all() > 0
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 4
    assert campaigns.campaigns_resume_stalled() == []  # it moved just now: not stalled

    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert campaigns.campaigns_stalled(now=now + timedelta(seconds=20)) == []
        resumed = campaigns.campaigns_resume_stalled(now=now + timedelta(seconds=35))
    assert resumed == [campaign.pk]
    broker_queue.run_all()
    outbox_sweep(now=now + timedelta(seconds=65))  # the four lost invitations
    broker_queue.run_all()

    # The resumed chain started at the stored cursor, not at the beginning.
    resumed_runs = fanout_runs(broker_queue)[2:]
    assert resumed_runs[0]["after_user"] == cursor[0]
    assert all(run["after_user"] >= cursor[0] for run in resumed_runs)
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    assert campaign.recipient_count == 7
    received = Counter(message.to[0] for message in mailoutbox)
    assert received == Counter(members + GUESTS)  # everyone, once
    assert OutboxMessage.objects.filter(batch=campaigns.campaign_batch(campaign)).count() == 7


def test_a_stale_duplicate_task_stops_without_inviting_anyone(
    campaign, organiser, broker_queue, django_capture_on_commit_callbacks
):
    press_send(campaign, organiser, django_capture_on_commit_callbacks)
    [(_, first_chunk)] = broker_queue.pending()
    broker_queue.run_one()
    after_first = stored(campaign)
    waiting = broker_queue.pending()

    # The same task delivered again (e.g. redelivered after its worker died).
    with django_capture_on_commit_callbacks(execute=True):
        campaign_fanout_task.apply(kwargs=first_chunk)

    assert stored(campaign) == after_first
    assert CampaignRecipient.objects.filter(campaign=campaign).count() == 2
    assert broker_queue.pending() == waiting  # it queued no next chunk


def test_a_resumed_chain_and_a_slow_old_one_never_both_go_on(
    campaign, organiser, members, broker_queue, mailoutbox, django_capture_on_commit_callbacks
):
    press_send(campaign, organiser, django_capture_on_commit_callbacks)
    broker_queue.run_one()
    # The old chain's next chunk is only waiting behind a long queue, but the sweep
    # cannot tell it from a lost one and queues the same chunk again.
    with django_capture_on_commit_callbacks(execute=True):
        later = timezone.now() + timedelta(seconds=50)
        assert campaigns.campaigns_resume_stalled(now=later) == [campaign.pk]
    expected = stored(campaign)
    waiting = [kwargs for name, kwargs in broker_queue.pending() if name == FANOUT]
    assert [(k["after_user"], k["after_email"]) for k in waiting] == [expected, expected]

    broker_queue.run_all()

    runs = [(run["after_user"], run["after_email"]) for run in fanout_runs(broker_queue)]
    # Every cursor was worked from once, except the one both chains expected.
    assert [cursor for cursor, n in Counter(runs).items() if n > 1] == [expected]
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    assert Counter(message.to[0] for message in mailoutbox) == Counter(members + GUESTS)


def test_a_resumed_campaign_is_not_resumed_again_before_it_could_move(
    campaign, organiser, broker_queue, django_capture_on_commit_callbacks
):
    press_send(campaign, organiser, django_capture_on_commit_callbacks)
    broker_queue.lose_all()
    now = timezone.now()
    with django_capture_on_commit_callbacks(execute=True):
        assert campaigns.campaigns_resume_stalled(now=now + timedelta(seconds=35)) == [campaign.pk]
        # Beat's next sweeps, 15 s apart, while the resumed task waits in the queue.
        assert campaigns.campaigns_resume_stalled(now=now + timedelta(seconds=50)) == []
        assert campaigns.campaigns_resume_stalled(now=now + timedelta(seconds=65)) == []
        assert campaigns.campaigns_resume_stalled(now=now + timedelta(seconds=80)) == [campaign.pk]
    assert len(broker_queue.pending()) == 2  # at most one more task per STALLED_AFTER


def test_drafts_and_sent_campaigns_are_never_resumed(
    campaign, organiser, django_capture_on_commit_callbacks
):
    later = timezone.now() + timedelta(hours=1)
    assert campaigns.campaigns_stalled(now=later) == []  # a draft
    press_send(campaign, organiser, django_capture_on_commit_callbacks)  # eager: all sent
    campaign.refresh_from_db()
    assert campaign.status == Campaign.Status.SENT
    assert campaigns.campaigns_stalled(now=later) == []


def test_beat_looks_for_stalled_campaigns_often_enough_to_resume_them_within_45_seconds():
    [entry] = [
        entry
        for entry in django_settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "events.tasks.campaigns_resume_stalled_task"
    ]
    assert entry["schedule"] + campaigns.STALLED_AFTER.total_seconds() <= 45
