"""The member directory is served from the cache (issue 18) under a version that every
write to what it shows, or to whom, changes (members.directory_version): whoever writes —
a form, the admin, `QuerySet.update()`, raw SQL, a cascade — the next page shows it, and
one person's page is never served to another."""

from datetime import timedelta

import pytest
from django.db import connection, transaction
from django.utils import timezone

from members import directory_version
from members.models import ClusterMembership, DirectoryChange, Profile, Topic, User
from tests.factories import ProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _cached(settings):
    settings.PAGE_CACHE = True


def page(client, url: str = "/members/") -> str:
    response = client.get(url)
    assert response.status_code == 200
    return response.content.decode()


def test_the_page_is_served_from_the_cache_and_the_triggers_keep_it_fresh(
    client_for, colleague, member
):
    client = client_for(colleague.user)
    assert "Anna Keller" in page(client)
    directory_version.drop(connection)
    Profile.objects.filter(pk=member.pk).update(display_name="Anna Huber")
    assert "Anna Keller" in page(client)  # cached: nothing told it of the write

    directory_version.install(connection)  # counts a change: what was written meanwhile
    assert directory_version.installed(connection)
    html = page(client)
    assert "Anna Huber" in html
    assert "Anna Keller" not in html


def test_a_profile_hidden_by_a_bulk_update_leaves_the_page_at_once(client_for, colleague, member):
    client = client_for(colleague.user)
    assert "Anna Keller" in page(client)
    Profile.objects.filter(pk=member.pk).update(visibility=Profile.Visibility.HIDDEN)
    assert "Anna Keller" not in page(client)


def test_an_organisation_renamed_in_raw_sql_shows_at_once(client_for, colleague, member):
    client = client_for(colleague.user)
    assert "Keller Antriebstechnik" in page(client)
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE members_organisation SET name = %s WHERE id = %s",
            ["Keller Drives", member.organisation_id],
        )
    html = page(client)
    assert "Keller Drives" in html
    assert "Keller Antriebstechnik" not in html


def test_a_renamed_topic_shows_on_the_cards_at_once(client_for, colleague, member):
    robotics = Topic.objects.get(slug="robotics")
    member.expertise.set([robotics])
    client = client_for(colleague.user)
    assert robotics.name in page(client)
    Topic.objects.filter(pk=robotics.pk).update(name="Cobots and robot cells")
    assert "Cobots and robot cells" in page(client)


def test_a_deactivated_or_deleted_account_leaves_the_page_at_once(
    client_for, colleague, member, organisation
):
    other = ProfileFactory(display_name="Carla Roth", organisation=organisation)
    client = client_for(colleague.user)
    html = page(client)
    assert "Anna Keller" in html and "Carla Roth" in html
    User.objects.filter(pk=member.user_id).update(is_active=False)
    assert "Anna Keller" not in page(client)
    User.objects.filter(pk=other.user_id).delete()  # the profile goes by cascade
    assert "Carla Roth" not in page(client)


def test_when_the_viewers_membership_ends_the_directory_closes_at_once(
    client_for, colleague, member, organisation
):
    client = client_for(colleague.user)
    assert "Anna Keller" in page(client)
    ClusterMembership.objects.filter(organisation=organisation).update(
        left_on=timezone.localdate() - timedelta(days=1)
    )
    html = page(client)
    assert "Anna Keller" not in html
    assert "until then you see only your own profile" in html


def test_each_viewer_gets_their_own_page(client_for, colleague, member):
    Profile.objects.filter(pk=member.pk).update(visibility=Profile.Visibility.HIDDEN)
    own, other = client_for(member.user), client_for(colleague.user)
    assert "Anna Keller" in page(own)  # everyone sees their own profile
    assert "Anna Keller" not in page(other)
    assert "Anna Keller" in page(own)


def test_filters_and_pages_are_cached_apart(client_for, colleague, member, organisation):
    for i in range(30):
        ProfileFactory(display_name=f"Person {i:02}", organisation=organisation)
    client = client_for(colleague.user)
    first, second = page(client), page(client, "/members/?page=2")
    assert "Anna Keller" in first and "Anna Keller" not in second
    assert "Person 29" in second
    assert "Person 01" in page(client, "/members/?q=Person+01")
    assert "Person 02" not in page(client, "/members/?q=Person+01")


def test_a_sign_in_leaves_the_version_and_a_staff_flag_changes_it(member):
    before = directory_version.current()
    User.objects.filter(pk=member.user_id).update(last_login=timezone.now())
    assert directory_version.current() == before
    User.objects.filter(pk=member.user_id).update(is_staff=True)
    assert directory_version.current() != before


def test_a_rolled_back_change_never_lends_its_version_to_a_later_one(member):
    before = directory_version.current()
    with pytest.raises(RuntimeError), transaction.atomic():
        Profile.objects.filter(pk=member.pk).update(job_title="Undone")
        undone = directory_version.current()
        raise RuntimeError
    assert directory_version.current() == before
    Profile.objects.filter(pk=member.pk).update(job_title="Kept")
    now = directory_version.current()
    assert now.split(".")[0] == undone.split(".")[0]  # as many changes,
    assert now != undone  # another version


def test_the_fold_keeps_the_version_in_one_row(member):
    for title in ("Welder", "Fitter", "Engineer"):
        Profile.objects.filter(pk=member.pk).update(job_title=title)
    version = directory_version.current()
    assert DirectoryChange.objects.count() > 1
    assert directory_version.fold(connection) > 1
    assert DirectoryChange.objects.count() == 1
    assert directory_version.current() == version
    assert directory_version.fold(connection) == 0


def test_the_fold_runs_every_hour(settings, member):
    from members.tasks import directory_changes_fold_task

    entry = settings.CELERY_BEAT_SCHEDULE["members-directory-changes-fold"]
    assert entry["task"] == "members.tasks.directory_changes_fold_task"
    assert len(entry["schedule"].minute) == 1 and len(entry["schedule"].hour) == 24
    Profile.objects.filter(pk=member.pk).update(job_title="Welder")
    version = directory_version.current()
    assert directory_changes_fold_task() > 1
    assert (DirectoryChange.objects.count(), directory_version.current()) == (1, version)


def test_a_bulk_write_on_postgresql_is_one_change(organisation):
    before = DirectoryChange.objects.count()
    Topic.objects.bulk_create(Topic(name=f"Topic {i}", slug=f"topic-{i}") for i in range(30))
    written = DirectoryChange.objects.count() - before
    # PostgreSQL has statement triggers; SQLite only row triggers.
    assert written == (1 if connection.vendor == "postgresql" else 30)
