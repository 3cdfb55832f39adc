"""Imports as background jobs (`members/imports.py`), seen through the CRM import's pages:
limits counted as a spreadsheet counts rows, the page while a job waits and runs, a job
whose worker died marked stalled and run again once, failures shown rather than a 500,
and jobs deleted with their files after the retention period."""

import logging
from datetime import timedelta
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from members import crm_import, imports
from members.models import ImportJob, Organisation

pytestmark = pytest.mark.django_db

URL = "/clusters/mechatronics-ua/manage/import/"
FILE = "name,country,domains\nAcme Robotics GmbH,AT,acme.example\nBrandt Werkzeuge,DE,\n"


@pytest.fixture
def post(client_for, django_capture_on_commit_callbacks):
    """POST as `user` (or with a client); `run=False` leaves the task to a worker
    that never comes."""

    def send(user, url, data, *, run=True):
        client = user if isinstance(user, Client) else client_for(user)
        with django_capture_on_commit_callbacks(execute=run):
            return client.post(url, data)

    return send


def upload(post, user, text: str = FILE, *, run=True) -> str:
    """The preview job's page address."""
    file = SimpleUploadedFile("crm.csv", text.encode(), "text/csv")
    response = post(user, URL, {"file": file}, run=run)
    assert response.status_code == 302
    return response["Location"]


# --- limits -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "over"),
    [
        ("a\n" * 5, False),
        ("a\n" * 6, True),
        ("a\r\n" * 5, False),  # Windows line ends are one break each
        ("a\r" * 6, True),  # old Mac line ends are breaks too
        ('a,"one\ntwo\nthree"\n' * 5, False),  # a quoted cell's breaks stay in its row
        ('a,"one\ntwo"\n' * 6, True),
    ],
)
def test_rows_are_counted_as_a_spreadsheet_counts_them(settings, text, over):
    settings.IMPORT_MAX_ROWS = 5

    assert imports.rows_over_limit(text) is over


def test_the_limits_are_named_in_the_messages(settings):
    settings.IMPORT_MAX_ROWS, settings.IMPORT_MAX_BYTES = 12_000, 3 * 1024 * 1024 // 2

    assert imports.too_many_rows_message() == (
        "The file has more than 12,000 rows; split it into smaller files."
    )
    assert imports.too_large_message() == (
        "The file is larger than 1.5 MB; split it into smaller files."
    )


# --- the page of a job ------------------------------------------------------------------


def test_the_page_shows_a_job_waiting_reading_and_running_and_reloads_until_done(
    client_for, post, cluster, organiser
):
    url = upload(post, organiser, run=False)
    client = client_for(organiser)
    job = ImportJob.objects.get()
    pages = {"queued": client.get(url).content.decode()}

    def preview_and_look(job):
        pages["reading"] = client.get(url).content.decode()
        imports.import_job_progress(job=job, rows_done=1, rows_total=2)
        pages["running"] = client.get(url).content.decode()
        return crm_import.plan_summary(crm_import.crm_import_plan(cluster=cluster, text=FILE))

    imports.import_job_run(job_id=job.pk, work=preview_and_look)
    pages["done"] = unescape(client.get(url).content.decode())

    assert "Waiting for the server to start." in pages["queued"]
    assert "Reading the file." in pages["reading"]
    assert "1 of 2 rows done." in pages["running"]
    assert '<progress max="2" value="1">' in pages["running"]
    for state in ("queued", "reading", "running"):
        assert '<meta http-equiv="refresh" content="2">' in pages[state], state
    assert 'http-equiv="refresh"' not in pages["done"]
    assert "New organisations: 2" in pages["done"]


def test_an_unexpected_error_is_shown_as_a_failure_and_logged(
    client_for, post, cluster, organiser, caplog
):
    url = upload(post, organiser, run=False)
    job = ImportJob.objects.get()

    def breaks(job):
        raise RuntimeError("disk full")

    with caplog.at_level(logging.ERROR, logger="members.imports"):
        imports.import_job_run(job_id=job.pk, work=breaks)
    response = client_for(organiser).get(url)

    job.refresh_from_db()
    assert job.status == ImportJob.Status.FAILED
    assert response.status_code == 200
    assert "Something went wrong while importing" in unescape(response.content.decode())
    assert "disk full" not in response.content.decode()
    assert "disk full" in caplog.text


def test_a_job_that_is_not_queued_is_not_run_again(post, cluster, organiser):
    upload(post, organiser)
    job = ImportJob.objects.get()
    calls = []

    imports.import_job_run(job_id=job.pk, work=calls.append)

    assert calls == []
    job.refresh_from_db()
    assert (job.status, job.attempts) == (ImportJob.Status.DONE, 1)


# --- the file ---------------------------------------------------------------------------


def test_a_preview_keeps_the_file_until_it_is_imported(client_for, post, cluster, organiser):
    url = upload(post, organiser)
    preview = ImportJob.objects.get()
    assert bytes(preview.content) == FILE.encode()

    imported = post(organiser, url, {"action": "apply"})

    preview.refresh_from_db()
    follow_up = preview.follow_up
    assert imported["Location"] == f"{URL}{follow_up.pk}/"
    assert bytes(preview.content) == b"" and bytes(follow_up.content) == b""
    assert follow_up.status == ImportJob.Status.DONE
    assert follow_up.result["organisations"] == 2


# --- a worker that died -----------------------------------------------------------------


def test_an_import_whose_worker_died_is_stalled_then_run_again_once(
    client_for, post, cluster, organiser, settings
):
    preview_url = upload(post, organiser)
    response = post(organiser, preview_url, {"action": "apply"}, run=False)
    job = ImportJob.objects.get(kind=ImportJob.Kind.CRM_APPLY)

    def killed(job):
        raise SystemExit("worker killed")  # the transaction rolls back; the job stays

    with pytest.raises(SystemExit):
        imports.import_job_run(job_id=job.pk, work=killed)
    job.refresh_from_db()
    assert job.status == ImportJob.Status.RUNNING
    stale = timedelta(seconds=settings.IMPORT_JOB_STALLED_AFTER_SECONDS + 1)
    assert imports.import_jobs_sweep(now=timezone.now() + stale) == (0, 1, 0)
    client = client_for(organiser)
    stalled = client.get(response["Location"]).content.decode()

    again = post(organiser, response["Location"], {"action": "retry"})
    page = unescape(client.get(again["Location"]).content.decode())
    twice = post(client, response["Location"], {"action": "retry"})

    assert "stopped before it finished" in stalled and 'value="retry"' in stalled
    assert again["Location"] == response["Location"]
    assert "Imported: 2 new organisations, 2 new memberships, 1 domains" in page
    assert "Only an import that stopped half-way can be run again." in unescape(
        client.get(twice["Location"]).content.decode()
    )
    assert Organisation.objects.filter(name="Acme Robotics GmbH").count() == 1
    job.refresh_from_db()
    assert (job.status, job.attempts) == (ImportJob.Status.DONE, 2)


def test_a_job_whose_task_was_lost_is_queued_again_and_runs_once_and_a_live_one_waits(
    post, cluster, organiser, django_capture_on_commit_callbacks
):
    upload(post, organiser, run=False)  # its task never ran: the broker lost it
    lost = ImportJob.objects.get()
    upload(post, organiser, run=False)
    live = ImportJob.objects.exclude(pk=lost.pk).get()
    ImportJob.objects.filter(pk=lost.pk).update(
        updated_at=timezone.now() - imports.REQUEUE_AFTER - timedelta(seconds=1)
    )

    with django_capture_on_commit_callbacks(execute=True):
        assert imports.import_jobs_sweep() == (1, 0, 0)
    # The lost task turns up after all: the job is claimed already and nothing runs twice.
    crm_import.crm_import_preview_run(job_id=lost.pk)

    lost.refresh_from_db()
    live.refresh_from_db()
    assert (lost.status, lost.attempts) == (ImportJob.Status.DONE, 1)
    assert (live.status, live.attempts) == (ImportJob.Status.QUEUED, 0)


# --- retention --------------------------------------------------------------------------


def test_old_jobs_are_deleted_with_their_files_by_the_command(
    post, cluster, organiser, settings, capsys
):
    upload(post, organiser)
    preview = ImportJob.objects.get()
    post(organiser, f"{URL}{preview.pk}/", {"action": "apply"})
    recent_url = upload(post, organiser)
    old = timezone.now() - timedelta(days=settings.IMPORT_JOB_RETENTION_DAYS, minutes=1)
    ImportJob.objects.filter(pk=preview.pk).update(created_at=old)

    call_command("sweep_import_jobs")

    assert "0 import job(s) queued again, 0 marked stalled, 2 deleted." in capsys.readouterr().out
    assert list(ImportJob.objects.values_list("pk", flat=True)) == [
        int(recent_url.rstrip("/").rsplit("/", 1)[1])
    ]
    assert Organisation.objects.filter(name="Acme Robotics GmbH").exists()
