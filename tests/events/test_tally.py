"""Registration tallies (events.tally): the database triggers keep, per event, status and
statistics category, exactly the number of event registrations — whatever writes them
(the ORM, bulk inserts, QuerySet.update, cascades) and whatever happens to the people's
gender records. Run on SQLite and on PostgreSQL (CI runs the suite on both)."""

import random
from collections import Counter
from datetime import UTC, datetime

import pytest
from django.db import connection

from events import tally
from events.models import Event, Registration, RegistrationTally
from insights import balance
from members import privacy
from members.models import GenderIdentity
from tests.events.factories import EventFactory, SessionFactory, register
from tests.factories import ClusterFactory, crowd

pytestmark = pytest.mark.django_db

RS = Registration.Status
G = GenderIdentity.Gender


def tallies(event: Event | int | None = None) -> dict[tuple, int]:
    """The tally rows summed per event, status and category (sums of 0 left out)."""
    rows = RegistrationTally.objects.all()
    if event:
        rows = rows.filter(event_id=getattr(event, "pk", event))
    sums = Counter()
    for t in rows:
        sums[t.event_id, t.status, t.category] += t.registrations
    return {key: n for key, n in sums.items() if n}


def counted_directly() -> dict[tuple, int]:
    """What the tallies must say, counted here from the registrations and gender records."""
    records = {r.user_id: r for r in GenderIdentity.objects.all()}

    def category(user_id: int) -> str:
        record = records.get(user_id)
        if record and record.statistics_consent and record.gender != G.UNDISCLOSED:
            return record.gender
        return G.UNDISCLOSED

    return dict(
        Counter(
            (r.event_id, r.status, category(r.user_id))
            for r in Registration.objects.filter(session__isnull=True)
        )
    )


def test_registrations_are_counted_per_status_and_consented_category():
    event = EventFactory()
    women, men, private = crowd(3, G.WOMAN), crowd(2, G.MAN, consent=False), crowd(1)
    selfdescribed = crowd(1, G.SELF_DESCRIBED)
    register(event, women + men + private + selfdescribed)
    register(event, crowd(2, G.WOMAN), status=RS.WAITLISTED)
    register(event, crowd(4, G.MAN), session=SessionFactory(event=event))  # not counted

    assert tallies(event) == {
        (event.pk, RS.CONFIRMED, G.WOMAN): 3,
        (event.pk, RS.CONFIRMED, G.UNDISCLOSED): 3,  # 2 men without consent, 1 no record
        (event.pk, RS.CONFIRMED, G.SELF_DESCRIBED): 1,
        (event.pk, RS.WAITLISTED, G.WOMAN): 2,
    }


def test_status_changes_move_the_count_whichever_way_they_are_written():
    event = EventFactory()
    register(event, crowd(4, G.WOMAN))
    first, second, *_ = Registration.objects.filter(event=event)
    first.status = RS.ATTENDED
    first.save()
    Registration.objects.filter(pk=second.pk).update(status=RS.NO_SHOW)

    assert tallies(event) == {
        (event.pk, RS.CONFIRMED, G.WOMAN): 2,
        (event.pk, RS.ATTENDED, G.WOMAN): 1,
        (event.pk, RS.NO_SHOW, G.WOMAN): 1,
    }


def test_deleted_registrations_and_events_leave_no_tally_behind():
    event, other = EventFactory(), EventFactory()
    register(event, crowd(3, G.MAN))
    register(other, crowd(2, G.WOMAN))
    Registration.objects.filter(event=event).first().delete()
    assert tallies(event) == {(event.pk, RS.CONFIRMED, G.MAN): 2}

    deleted = event.pk
    event.delete()
    assert tallies(deleted) == {}
    assert tallies() == {(other.pk, RS.CONFIRMED, G.WOMAN): 2}


def test_withdrawing_consent_moves_a_person_out_of_their_category_at_once():
    events = [EventFactory(), EventFactory()]
    [person] = crowd(1, G.WOMAN)
    for event in events:
        register(event, [person], status=RS.ATTENDED)
        register(event, crowd(2, G.WOMAN), status=RS.ATTENDED)

    privacy.gender_set(user=person, gender=G.WOMAN, statistics_consent=False)
    for event in events:
        assert tallies(event) == {
            (event.pk, RS.ATTENDED, G.WOMAN): 2,
            (event.pk, RS.ATTENDED, G.UNDISCLOSED): 1,
        }

    privacy.gender_set(user=person, gender=G.NON_BINARY, statistics_consent=True)
    assert tallies(events[0]) == {
        (events[0].pk, RS.ATTENDED, G.WOMAN): 2,
        (events[0].pk, RS.ATTENDED, G.NON_BINARY): 1,
    }


def test_a_first_gender_record_erasure_and_account_deletion_keep_the_tallies_exact():
    event = EventFactory()
    [newcomer] = crowd(1)
    [erased] = crowd(1, G.MAN)
    [leaving] = crowd(1, G.WOMAN)
    register(event, [newcomer, erased, leaving])

    privacy.gender_set(user=newcomer, gender=G.WOMAN, statistics_consent=True)
    privacy.gender_clear(user=erased)
    leaving.delete()

    assert tallies(event) == {
        (event.pk, RS.CONFIRMED, G.WOMAN): 1,
        (event.pk, RS.CONFIRMED, G.UNDISCLOSED): 1,
    }


def test_a_session_registration_moved_to_the_whole_event_is_counted():
    event = EventFactory()
    register(event, crowd(2, G.MAN), session=SessionFactory(event=event))
    assert tallies(event) == {}
    Registration.objects.filter(event=event).update(session=None)
    assert tallies(event) == {(event.pk, RS.CONFIRMED, G.MAN): 2}


def test_any_sequence_of_writes_leaves_the_tallies_equal_to_a_direct_count():
    rng = random.Random(2026)
    events = [EventFactory() for _ in range(3)]
    people = crowd(12)
    statuses = [RS.CONFIRMED, RS.ATTENDED, RS.NO_SHOW, RS.CANCELLED]
    for step in range(120):
        person, event = rng.choice(people), rng.choice(events)
        action = rng.randrange(5)
        existing = Registration.objects.filter(event=event, user=person, session=None).first()
        if action == 0 and not existing:
            register(event, [person], status=rng.choice(statuses))
        elif action == 1 and existing:
            Registration.objects.filter(pk=existing.pk).update(status=rng.choice(statuses))
        elif action == 2 and existing:
            existing.delete()
        elif action == 3:
            privacy.gender_set(
                user=person,
                gender=rng.choice([G.WOMAN, G.MAN, G.NON_BINARY, G.UNDISCLOSED]),
                statistics_consent=rng.random() < 0.7,
            )
        else:
            privacy.gender_clear(user=person)
        assert tallies() == counted_directly(), f"after step {step} (action {action})"


def test_compacting_folds_the_rows_and_keeps_every_sum():
    events = [EventFactory(), EventFactory()]
    people = crowd(6, G.WOMAN)
    for event in events:
        register(event, people)
    Registration.objects.filter(event=events[0], user__in=people[:2]).update(status=RS.ATTENDED)
    privacy.gender_set(user=people[5], gender=G.MAN, statistics_consent=True)
    events[1].delete()  # its rows sum to 0
    before = tallies()
    assert RegistrationTally.objects.count() > len(before)

    folded = tally.compact(connection)

    assert folded > len(before)
    assert tallies() == before == counted_directly()
    rows = RegistrationTally.objects.values_list("event_id", "status", "category", "registrations")
    assert sorted(rows) == sorted((*key, n) for key, n in before.items())
    assert tally.compact(connection) == 0  # nothing more to fold, nothing rewritten
    register(EventFactory(), crowd(1, G.WOMAN))  # and writing goes on
    assert tallies() == counted_directly()


def test_install_puts_the_triggers_back_and_recounts():
    event = EventFactory()
    register(event, crowd(3, G.WOMAN))
    RegistrationTally.objects.all().delete()

    tally.drop(connection)
    assert not tally.installed(connection)
    register(event, crowd(1, G.MAN))  # not counted: no triggers

    tally.install(connection)

    assert tally.installed(connection)
    assert tallies() == {
        (event.pk, RS.CONFIRMED, G.WOMAN): 3,
        (event.pk, RS.CONFIRMED, G.MAN): 1,
    }
    register(event, crowd(1, G.WOMAN))  # and the triggers are in place again
    assert tallies()[event.pk, RS.CONFIRMED, G.WOMAN] == 4


@pytest.fixture
def exact_releases(settings):
    """Releases (drawn from the tallies) without noise and due at once: the figures are
    the tallies' counts."""
    settings.PRIVACY_MIN_GROUP_SIZE = 5
    settings.PRIVACY_NOISE_SIGMA = 0
    settings.PRIVACY_RELEASE_AFTER_HOURS = -10 * 365 * 24


def released(**raw: int) -> privacy.GenderCounts:
    return privacy.publish_released(raw, sum(raw.values()), k=5)


def test_the_hourly_command_folds_the_tallies():
    from io import StringIO

    from django.core.management import call_command

    event = EventFactory()
    register(event, crowd(3, G.MAN))
    Registration.objects.filter(event=event).update(status=RS.ATTENDED)
    out = StringIO()

    call_command("compact_tallies", stdout=out)

    assert "Folded 9 tally rows." in out.getvalue()  # 3 × +1, then 3 × (−1, +1)
    assert RegistrationTally.objects.count() == 1
    assert tallies() == {(event.pk, RS.ATTENDED, G.MAN): 3}


def test_beat_folds_the_tallies_every_hour(settings):
    from events.tasks import tallies_compact_task

    [entry] = [
        entry
        for entry in settings.CELERY_BEAT_SCHEDULE.values()
        if entry["task"] == "events.tasks.tallies_compact_task"
    ]
    assert entry["schedule"].minute == {50}
    register(EventFactory(), crowd(2, G.WOMAN))
    assert tallies_compact_task.delay().get() == 2
    assert RegistrationTally.objects.count() == 1


def test_a_period_whose_registrations_all_left_shows_no_row(settings):
    cluster = ClusterFactory()
    event = EventFactory(
        clusters=[cluster], status=Event.Status.PUBLISHED,
        starts_at=datetime(2026, 3, 1, 10, tzinfo=UTC),
    )  # fmt: skip
    register(event, crowd(5, G.WOMAN))
    Registration.objects.filter(event=event).delete()  # their tally rows sum to 0

    assert balance.balance_trend(filters=balance.BalanceFilter(cluster=cluster)) == []


def test_check_tallies_finds_drift_and_repairs_it():
    from io import StringIO

    from django.core.management import CommandError, call_command

    event = EventFactory()
    register(event, crowd(3, G.WOMAN))
    out = StringIO()
    call_command("check_tallies", stdout=out)
    assert "agree" in out.getvalue()

    RegistrationTally.objects.filter(event=event).delete()  # drift, by hand
    with pytest.raises(CommandError, match="--repair"):
        call_command("check_tallies", stdout=StringIO())
    assert tally.drift(connection) == {(event.pk, RS.CONFIRMED, G.WOMAN): (0, 3)}

    out = StringIO()
    call_command("check_tallies", "--repair", stdout=out)
    assert f"Event #{event.pk} confirmed woman: tallied 0, counted 3" in out.getvalue()
    assert tally.drift(connection) == {}
    assert tallies() == {(event.pk, RS.CONFIRMED, G.WOMAN): 3}


def test_a_gender_change_folds_the_persons_events_so_no_move_shows(
    django_capture_on_commit_callbacks,
):
    events = [EventFactory(), EventFactory()]
    [person] = crowd(1, G.WOMAN)
    others = crowd(3, G.MAN)
    for event in events:
        register(event, [person, *others])
    untouched = EventFactory()
    register(untouched, others)

    with django_capture_on_commit_callbacks(execute=True):
        privacy.gender_clear(user=person)

    for event in events:  # one row per status and category: nobody's move is left to see
        rows = RegistrationTally.objects.filter(event=event)
        assert sorted(rows.values_list("status", "category", "registrations")) == [
            (RS.CONFIRMED, G.MAN, 3),
            (RS.CONFIRMED, G.UNDISCLOSED, 1),
        ]
    assert RegistrationTally.objects.filter(event=untouched).count() == 3  # not folded
    assert tallies() == counted_directly()


def test_the_hourly_task_reports_missing_triggers(caplog):
    from events.tasks import tallies_compact_task

    tally.drop(connection)
    tallies_compact_task.delay().get()
    assert "tally triggers are missing" in caplog.text


def test_out_of_date_triggers_are_not_taken_as_installed():
    """After an upgrade that changes the triggers' SQL, migrate puts the new ones in."""
    assert tally.installed(connection)
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("DROP TRIGGER events_tally_ins")
            cursor.execute(
                "CREATE TRIGGER events_tally_ins AFTER INSERT ON events_registration "
                "BEGIN SELECT 1; END"
            )
        else:
            cursor.execute("COMMENT ON FUNCTION events_tally_registration() IS 'older'")
    assert not tally.installed(connection)

    tally.install(connection)

    assert tally.installed(connection)
