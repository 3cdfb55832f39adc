"""The attendance import as a background job (`events/attendance_jobs.py`): the upload is
checked at once and answers with the job's page, which shows the progress and then the
result; only the person who started it (and staff) sees it; a job stopped half-way can be
run again without marking anyone twice."""

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from django.utils import timezone

from events import attendance_jobs, authoring
from events.models import Event, Registration
from events.tasks import attendance_import_task
from members import imports
from members.models import ImportJob
from tests.events.organiser_factories import EventFactory, RegistrationFactory
from tests.factories import ClusterOrganiserFactory, ProfileFactory

pytestmark = pytest.mark.django_db
Status = Registration.Status


@pytest.fixture
def event(cluster):
    return EventFactory(clusters=[cluster], title="Lean robotics day")


@pytest.fixture
def people(event) -> list[Registration]:
    """Four confirmed registrations of the event."""
    return [RegistrationFactory(event=event) for _ in range(4)]


def participant_list(*emails: str) -> SimpleUploadedFile:
    lines = ["Name (Original Name),User Email,Duration (Minutes)"]
    lines += [f"Person {n},{email},60" for n, email in enumerate(emails)]
    return SimpleUploadedFile("zoom.csv", ("\n".join(lines) + "\n").encode(), "text/csv")


def upload_url(event: Event) -> str:
    return reverse("events:attendance_import", args=[event.slug])


@pytest.fixture
def upload(client_for, django_capture_on_commit_callbacks):
    """Upload as `user`; the response. `run=False` keeps the job queued (no worker yet)."""

    def send(user, event, file, *, run=True):
        with django_capture_on_commit_callbacks(execute=run):
            return client_for(user).post(upload_url(event), {"file": file})

    return send


def test_the_upload_answers_at_once_with_the_jobs_page_showing_the_result(
    client_for, upload, organiser, event, people
):
    emails = [r.user.email for r in people[:2]] + ["nobody@example.net"]

    response = upload(organiser, event, participant_list(*emails))

    job = ImportJob.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{upload_url(event)}{job.pk}/"
    page = client_for(organiser).get(response["Location"]).content.decode()
    assert "2 participants marked as attended." in page
    assert "1 row matched no registration" in page and "nobody@example.net" in page
    assert 'http-equiv="refresh"' not in page
    assert [r.status for r in Registration.objects.order_by("pk")] == [
        Status.ATTENDED,
        Status.ATTENDED,
        Status.CONFIRMED,
        Status.CONFIRMED,
    ]
    # The file is not kept once it is imported; the result is.
    job.refresh_from_db()
    assert (job.status, bytes(job.content), job.actor) == (ImportJob.Status.DONE, b"", organiser)
    assert (job.rows_done, job.rows_total, job.file_name) == (3, 3, "zoom.csv")
    assert job.started_at and job.finished_at


def test_until_a_worker_runs_it_the_page_says_so_and_reloads_itself(
    client_for, upload, organiser, event, people
):
    response = upload(organiser, event, participant_list(people[0].user.email), run=False)
    client = client_for(organiser)

    waiting = client.get(response["Location"]).content.decode()
    attendance_import_task.delay(job_id=ImportJob.objects.get().pk)  # the worker's turn
    done = client.get(response["Location"]).content.decode()

    assert '<meta http-equiv="refresh" content="2">' in waiting
    assert "Waiting for the server to start." in waiting
    # It reloads without JavaScript: the only script is the site menu's.
    assert waiting.count("<script") == 1 and '<script src="/static/js/nav.js"' in waiting
    assert "1 participant marked as attended." in done
    assert 'http-equiv="refresh"' not in done


def test_a_running_job_shows_how_many_rows_are_done(
    client_for, upload, organiser, event, people, monkeypatch
):
    monkeypatch.setattr(imports, "PROGRESS_EVERY_ROWS", 2)
    response = upload(
        organiser, event, participant_list(*[r.user.email for r in people]), run=False
    )
    client = client_for(organiser)
    pages = []
    real_import = authoring.attendance_import

    def import_and_look(**kwargs):
        # What the organiser's browser sees while a chunk is being imported.
        pages.append(client.get(response["Location"]).content.decode())
        return real_import(**kwargs)

    monkeypatch.setattr(authoring, "attendance_import", import_and_look)
    attendance_import_task.delay(job_id=ImportJob.objects.get().pk)

    assert "0 of 4 rows done." in pages[0] and "2 of 4 rows done." in pages[1]
    assert '<progress max="4" value="2">' in pages[1]
    assert all('http-equiv="refresh"' in page for page in pages)


def test_a_person_listed_twice_in_different_chunks_is_marked_once(
    client_for, upload, organiser, event, people, monkeypatch
):
    monkeypatch.setattr(imports, "PROGRESS_EVERY_ROWS", 2)
    anna, bruno = people[0].user.email, people[1].user.email

    upload(organiser, event, participant_list(anna, "x@example.net", anna.upper(), bruno))

    result = ImportJob.objects.get().result
    assert (result["matched"], result["already_attended"], result["unmatched_total"]) == (2, 0, 1)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"Name,Company\nAnna Keller,Keller\n", "No e-mail column found."),
        ("Name,Email\nJosé,jose@example.org\n".encode("latin-1"), "The file is not UTF-8 text."),
        (b"", "The submitted file is empty."),
    ],
)
def test_a_file_that_is_not_a_participant_list_is_refused_before_any_job(
    upload, organiser, event, data, message
):
    response = upload(organiser, event, SimpleUploadedFile("p.csv", data, "text/csv"))

    assert response.status_code == 400
    assert message in response.content.decode()
    assert not ImportJob.objects.exists()


def test_files_over_the_limits_are_refused_before_any_job(
    upload, organiser, event, people, settings
):
    settings.IMPORT_MAX_ROWS = 3
    emails = [r.user.email for r in people]

    three_rows = upload(organiser, event, participant_list(*emails[:2]))
    four_rows = upload(organiser, event, participant_list(*emails[:3]))
    settings.IMPORT_MAX_ROWS = 50_000
    settings.IMPORT_MAX_BYTES = 60
    too_big = upload(organiser, event, participant_list(*emails))

    assert three_rows.status_code == 302
    assert four_rows.status_code == 400
    assert "The file has more than 3 rows; split it into smaller files." in (
        four_rows.content.decode()
    )
    assert too_big.status_code == 400
    assert "The file is larger than 60" in too_big.content.decode()
    assert ImportJob.objects.count() == 1


def test_a_cancelled_event_takes_no_upload(upload, organiser, event, people):
    Event.objects.filter(pk=event.pk).update(status=Event.Status.CANCELLED)

    response = upload(organiser, event, participant_list(people[0].user.email))

    assert response.status_code == 400
    assert "This event is cancelled" in response.content.decode()
    assert not ImportJob.objects.exists()


def test_only_the_person_who_started_it_and_staff_see_a_job(
    client_for, upload, organiser, event, people, member, staff, other_cluster
):
    response = upload(organiser, event, participant_list(people[0].user.email))
    url = response["Location"]
    fellow_organiser = ProfileFactory().user
    ClusterOrganiserFactory(cluster=event.clusters.get(), user=fellow_organiser)
    stranger_organiser = ProfileFactory().user
    ClusterOrganiserFactory(cluster=other_cluster, user=stranger_organiser)

    assert client_for(organiser).get(url).status_code == 200
    assert client_for(staff).get(url).status_code == 200
    for user in (fellow_organiser, stranger_organiser, member.user):
        assert client_for(user).get(url).status_code == 404, user
        assert client_for(user).post(url, {"action": "retry"}).status_code == 404, user
    assert client_for(None).get(url).status_code == 302  # to the sign-in page
    # A job is found through its own event only.
    other_event = EventFactory(clusters=[event.clusters.get()])
    elsewhere = url.replace(event.slug, other_event.slug)
    assert client_for(organiser).get(elsewhere).status_code == 404


def test_the_upload_page_lists_my_recent_imports_only(client_for, upload, organiser, event, people):
    upload(organiser, event, participant_list(people[0].user.email))
    fellow = ProfileFactory().user
    ClusterOrganiserFactory(cluster=event.clusters.get(), user=fellow)
    job_url = f"{upload_url(event)}{ImportJob.objects.get().pk}/"

    assert job_url in client_for(organiser).get(upload_url(event)).content.decode()
    assert job_url not in client_for(fellow).get(upload_url(event)).content.decode()


def test_a_task_delivered_twice_imports_once(client_for, upload, organiser, event, people):
    upload(organiser, event, participant_list(people[0].user.email))
    job = ImportJob.objects.get()
    checked_in_at = Registration.objects.get(pk=people[0].pk).checked_in_at

    attendance_import_task.delay(job_id=job.pk)

    job.refresh_from_db()
    assert (job.status, job.attempts, job.result["matched"]) == (ImportJob.Status.DONE, 1, 1)
    assert Registration.objects.get(pk=people[0].pk).checked_in_at == checked_in_at


def test_a_job_whose_worker_died_half_way_is_stalled_and_runs_again_without_doubles(
    client_for,
    upload,
    organiser,
    event,
    people,
    monkeypatch,
    settings,
    django_capture_on_commit_callbacks,
):
    monkeypatch.setattr(imports, "PROGRESS_EVERY_ROWS", 2)
    response = upload(
        organiser, event, participant_list(*[r.user.email for r in people]), run=False
    )
    job = ImportJob.objects.get()
    real_import, calls = authoring.attendance_import, []

    def dies_on_the_second_chunk(**kwargs):
        calls.append(kwargs)
        if len(calls) == 2:
            raise SystemExit("worker killed")  # not an error the job can record
        return real_import(**kwargs)

    monkeypatch.setattr(authoring, "attendance_import", dies_on_the_second_chunk)
    with pytest.raises(SystemExit):
        attendance_import_task.delay(job_id=job.pk)
    monkeypatch.setattr(authoring, "attendance_import", real_import)
    job.refresh_from_db()
    assert (job.status, job.rows_done) == (ImportJob.Status.RUNNING, 2)
    client = client_for(organiser)

    # Nothing moves for longer than the task time limit: the sweep calls it stalled.
    assert imports.import_jobs_sweep(now=timezone.now() + timedelta(minutes=5)) == (0, 0, 0)
    later = timezone.now() + timedelta(seconds=settings.IMPORT_JOB_STALLED_AFTER_SECONDS)
    assert imports.import_jobs_sweep(now=later + timedelta(seconds=1)) == (0, 1, 0)
    stalled = client.get(response["Location"]).content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        again = client.post(response["Location"], {"action": "retry"})
    page = client.get(again["Location"]).content.decode()

    assert "stopped before it finished" in stalled and "Run again" in stalled
    assert "2 participants marked as attended." in page
    assert "2 were already checked in." in page
    job.refresh_from_db()
    assert (job.status, job.attempts) == (ImportJob.Status.DONE, 2)
    assert set(Registration.objects.values_list("status", flat=True)) == {Status.ATTENDED}
    assert Registration.objects.count() == 4


def test_only_a_stalled_job_can_be_run_again(client_for, upload, organiser, event, people):
    response = upload(organiser, event, participant_list(people[0].user.email))

    again = client_for(organiser).post(response["Location"], {"action": "retry"}, follow=True)

    assert "Only an import that stopped half-way can be run again." in again.content.decode()
    assert ImportJob.objects.get().attempts == 1


def test_a_long_result_lists_the_first_rows_and_counts_them_all(
    client_for, upload, organiser, event, monkeypatch
):
    monkeypatch.setattr(imports, "RESULT_ROWS_SHOWN", 3)

    response = upload(organiser, event, participant_list(*[f"p{n}@example.net" for n in range(5)]))

    page = client_for(organiser).get(response["Location"]).content.decode()
    assert "5 rows matched no registration" in page
    assert "The first 3 are listed." in page
    assert "p2@example.net" in page and "p3@example.net" not in page


def test_the_jobs_are_deleted_after_the_retention_period(
    upload, organiser, event, people, settings
):
    upload(organiser, event, participant_list(people[0].user.email))
    week = timedelta(days=settings.IMPORT_JOB_RETENTION_DAYS)

    assert imports.import_jobs_sweep(now=timezone.now() + week - timedelta(minutes=1)) == (0, 0, 0)
    assert imports.import_jobs_sweep(now=timezone.now() + week + timedelta(minutes=1)) == (0, 0, 1)
    assert not ImportJob.objects.exists()
    assert Registration.objects.get(pk=people[0].pk).status == Status.ATTENDED


def test_the_queue_service_refuses_someone_who_does_not_manage_the_event(event, member):
    with pytest.raises(PermissionDenied):
        attendance_jobs.attendance_import_queue(
            event=event, by=member.user, file_name="p.csv", content=b"Email\nx@example.org\n"
        )
    assert not ImportJob.objects.exists()
