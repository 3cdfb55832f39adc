"""Outgoing mail. Other apps build a message and hand it here; this app knows none of them.

Every message is first an `OutboxMessage` row written in the caller's transaction, so a
rolled-back action sends nothing. After commit the row's id goes to Celery; the web
request never waits for SMTP. A periodic sweeper re-enqueues rows whose task was lost.

Delivery is at-least-once, with exactly one window for a duplicate: if a worker dies
after the SMTP server accepted the message but before the row was marked sent, the row
stays `sending`, the sweeper re-queues it once it is stale, and the message goes out a
second time (with the same Message-ID, which lets mail clients fold the two). SMTP has
no two-phase commit, so no design closes that window; this one keeps it to a single
message per dead worker. On PostgreSQL the worker's status writes do not wait for the disk
(`_asynchronous_commit`): a crash of the database server itself may send again what was
marked sent in its last fraction of a second.
"""

import base64
import contextlib
import logging
import re
import smtplib
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta
from email.utils import formatdate, getaddresses, make_msgid, parseaddr
from typing import TypedDict
from urllib.parse import urlsplit

from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.db import DatabaseError, IntegrityError, connection, transaction
from django.db.models import Q
from django.utils import timezone, translation
from django.utils.module_loading import import_string

from notifications.broker import broker_started_at
from notifications.models import OutboxMessage
from notifications.redaction import Redactor

logger = logging.getLogger(__name__)

Status = OutboxMessage.Status


class TransientDeliveryError(Exception):
    """The mail server could not take the message now; the task retries it later."""


# --- settings ------------------------------------------------------------------------


def requeue_after() -> timedelta:
    """A row never tried and still `queued` this long after it was written (or last
    re-enqueued) has probably lost its task, e.g. to a broker restart."""
    return timedelta(seconds=getattr(settings, "OUTBOX_REQUEUE_AFTER_SECONDS", 60))


def retry_requeue_after() -> timedelta:
    """The same for a row back in `queued` after a failed attempt. Celery holds its retry
    for up to `retry_backoff_max` (600 s); stepping in sooner would turn the sweeper into
    a once-a-minute retry against a mail server that is refusing."""
    return timedelta(seconds=getattr(settings, "OUTBOX_RETRY_REQUEUE_AFTER_SECONDS", 11 * 60))


def sending_stale_after() -> timedelta:
    """A row `sending` for this long belongs to a dead worker.

    Must exceed CELERY_TASK_TIME_LIMIT, so a live worker is never overtaken.
    """
    return timedelta(seconds=getattr(settings, "OUTBOX_SENDING_STALE_AFTER_SECONDS", 15 * 60))


def max_age() -> timedelta:
    """After this long since it was queued, a message is given up."""
    return timedelta(seconds=getattr(settings, "OUTBOX_MAX_AGE_SECONDS", 2 * 24 * 60 * 60))


def body_retention() -> timedelta:
    """How long a sent message keeps its bodies and attachments."""
    return timedelta(days=getattr(settings, "OUTBOX_BODY_RETENTION_DAYS", 30))


def _message_id_domain() -> str:
    return urlsplit(settings.SITE_URL).hostname or "localhost"


# --- enqueue -------------------------------------------------------------------------


def _attachments_as_data(message: EmailMessage) -> list[list[str]]:
    rows = []
    for attachment in message.attachments:
        if not isinstance(attachment, tuple):
            raise ValueError("MIME objects cannot be queued; attach (filename, content, mimetype)")
        name, content, mimetype = attachment
        if isinstance(content, bytes):
            try:
                rows.append([name, content.decode(), mimetype])
            except UnicodeDecodeError:
                rows.append([name, base64.b64encode(content).decode(), mimetype, "base64"])
        else:
            rows.append([name, content, mimetype])
    return rows


def _alternatives_as_data(message: EmailMessage) -> tuple[str, list[list[str]]]:
    """The HTML body, and every other alternative (e.g. text/calendar) as [content, mimetype].

    Alternatives are renderings of the body, so they must be text.
    """
    html, others = "", []
    for content, mimetype in getattr(message, "alternatives", []):
        if not mimetype.startswith("text/"):
            raise ValueError(f"an alternative must be text/*, got {mimetype}")
        if isinstance(content, bytes):
            content = content.decode()
        if mimetype == "text/html":
            if html:
                raise ValueError("only one text/html alternative can be queued")
            html = content
        else:
            others.append([content, mimetype])
    return html, others


def list_unsubscribe_headers(*, url: str) -> dict[str, str]:
    """Headers that give optional mail a one-click unsubscribe button (RFC 2369, RFC 8058).

    `url` must be an https URL that unsubscribes on a POST with the body
    `List-Unsubscribe=One-Click` and no cookies or CSRF token. Transactional mail
    carries no such headers.
    """
    return {
        "List-Unsubscribe": f"<{url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
    }


# Runs of ASCII whitespace and line breaks; not the no-break spaces some languages put
# before punctuation ("Votre place\u00a0: …"), which a subject keeps.
_SUBJECT_SPACE = re.compile(r"[ \t\r\n\f\v\x85\u2028\u2029]+")


def subject_line(text: str) -> str:
    """`text` as a one-line mail subject: line breaks and runs of spaces become one space."""
    return _SUBJECT_SPACE.sub(" ", text).strip(" ")


def _content(message: EmailMessage) -> dict:
    """What an outbox row stores of `message` to send it later (one recipient)."""
    recipients = message.recipients()
    if len(recipients) != 1 or message.cc or message.bcc:
        raise ValueError(f"an outbox message has exactly one recipient, got {recipients}")
    body_html, alternatives = _alternatives_as_data(message)
    return {
        "recipient": recipients[0],
        # One line whatever went into it (an older event title with a line break): a
        # subject with CR/LF could never be sent (BadHeaderError).
        "subject": subject_line(str(message.subject)),
        "body_text": message.body,
        "body_html": body_html,
        "from_email": message.from_email or settings.DEFAULT_FROM_EMAIL,
        "reply_to": ", ".join(message.reply_to),
        "headers": dict(message.extra_headers),
        "alternatives": alternatives,
        "attachments": _attachments_as_data(message),
    }


def _check_batch(batch: str) -> None:
    if len(batch) > OutboxMessage._meta.get_field("batch").max_length:
        raise ValueError(f"a batch name is at most 80 characters, got {batch!r}")


def _insert(row: OutboxMessage) -> OutboxMessage:
    """Save a new row and send it after commit; an idempotency key already taken returns
    the row that holds it."""
    if row.idempotency_key is None:
        row.save(force_insert=True)
    else:
        row.pk = _insert_unless_key_taken(row)
        if row.pk is None:
            # Another message holds the key (if it was being written by a concurrent
            # transaction, the insert waited for its commit): that row is the message.
            return OutboxMessage.objects.get(idempotency_key=row.idempotency_key)
    send_after_commit(ids=[row.pk])
    return row


def _insert_unless_key_taken(row: OutboxMessage) -> int | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING id: the new row's id, or None when the
    key is taken. One round trip where a lookup, a savepoint, the insert and its release
    took four: registrations write their message while holding the event's seat lock."""
    sql, values = _insert_sql(row, slots={}, source="")
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        found = cursor.fetchone()
    return found[0] if found else None


def _insert_sql(row: OutboxMessage, *, slots: dict[str, str], source: str) -> tuple[str, list]:
    """`row`'s INSERT … ON CONFLICT (key) DO NOTHING RETURNING id, and its parameters.

    `slots` replaces a column's parameter by an SQL expression (which may hold `%s`
    for the column's own value); with a `source`, the values are selected from it."""
    fields = [field for field in OutboxMessage._meta.concrete_fields if not field.primary_key]
    quote = connection.ops.quote_name
    table, key, pk = (quote(OutboxMessage._meta.db_table), quote("idempotency_key"),
                      quote(OutboxMessage._meta.pk.column))  # fmt: skip
    columns = ", ".join(quote(field.column) for field in fields)
    expressions, values = [], []
    for field in fields:
        expression = slots.get(field.column, "%s")
        expressions.append(expression)
        if "%s" in expression:
            values.append(field.get_db_prep_save(getattr(row, field.attname), connection))
    values_sql = ", ".join(expressions)
    selected = f"SELECT {values_sql} FROM {source}" if source else f"VALUES ({values_sql})"  # noqa: S608
    # Names from the model's metadata, expressions from the calling code; every value is
    # a parameter.
    sql = f"INSERT INTO {table} ({columns}) {selected} ON CONFLICT ({key}) WHERE {key} IS NOT NULL DO NOTHING RETURNING {pk}"  # noqa: E501, S608
    return sql, values


def email_enqueue(
    *,
    message: EmailMessage,
    kind: str = "mail",
    idempotency_key: str | None = None,
    batch: str = "",
) -> OutboxMessage:
    """Write `message` to the outbox in the caller's transaction; send it after commit.

    The message must have exactly one recipient (one row per person, so one person's
    refused address never holds back another's). With an `idempotency_key` already in the
    outbox, the existing row is returned and nothing is sent again. `batch` names what the
    message belongs to for its sender (e.g. "event:12"), who can then count and retry
    those messages through `notifications.selectors` and `outbox_retry_failed`.
    """
    _check_batch(batch)
    return _insert(
        OutboxMessage(
            **_content(message),
            kind=kind,
            idempotency_key=idempotency_key,
            batch=batch,
            message_id=make_msgid(domain=_message_id_domain()),
        )
    )


def email_enqueue_deferred(
    *,
    recipient: str,
    render: str,
    params: dict,
    kind: str,
    idempotency_key: str | None = None,
    batch: str = "",
) -> OutboxMessage:
    """Like `email_enqueue`, but the worker renders the message when it first sends it.

    For callers that must not spend their transaction on templates and calendar files
    (a registration holding its event's seat lock). `render` is the dotted path of a
    callable `f(**params) -> EmailMessage` addressed to `recipient` alone; `params` is
    JSON (ids and a snapshot of what the message must say, so a later change cannot make
    it lie). The row is written in the caller's transaction like any other; the first
    send stores what the callable returned, so a resend sends the same content. A
    callable that raises leaves the row queued with the error for the sweeper to retry.
    """
    return _insert(
        _deferred_row(
            recipient=recipient,
            render=render,
            params=params,
            kind=kind,
            idempotency_key=idempotency_key,
            batch=batch,
        )
    )


def _deferred_row(
    *, recipient: str, render: str, params: dict, kind: str, idempotency_key: str | None, batch: str
) -> OutboxMessage:
    _check_batch(batch)
    if not render or not recipient or len(getaddresses([recipient])) != 1:
        raise ValueError(f"a deferred message needs a render path and one recipient, got "
                         f"{render!r} for {recipient!r}")  # fmt: skip
    return OutboxMessage(
        recipient=recipient,
        kind=kind,
        render_with=render,
        render_params=params,
        idempotency_key=idempotency_key,
        batch=batch,
        message_id=make_msgid(domain=_message_id_domain()),
    )


_JSON_MEMBER = re.compile(r"[a-z_]+")


def email_enqueue_deferred_sql(
    *,
    recipient: str,
    render: str,
    params: dict,
    selected_params: dict[str, str],
    idempotency_key_sql: str,
    kind: str,
    batch: str = "",
    source: str,
) -> tuple[str, list]:
    """`email_enqueue_deferred` as SQL: `INSERT … SELECT … FROM source … RETURNING id`.

    For a caller that writes its own row and the message about it in one statement (a
    registration, whose seat lock must not wait on round trips): `source` names that
    statement's relations, `selected_params` adds JSON members to `params` as SQL
    expressions over them, and `idempotency_key_sql` is the key's expression. The
    expressions are the caller's code, never input. Returns the SQL and its parameters;
    the caller passes the id the statement returns to `send_after_commit`.
    """
    if not all(_JSON_MEMBER.fullmatch(name) for name in selected_params):
        raise ValueError(f"JSON member names are lowercase words, got {list(selected_params)}")
    row = _deferred_row(recipient=recipient, render=render, params=params, kind=kind,
                        idempotency_key="", batch=batch)  # fmt: skip
    members = ", ".join(f"'{name}', {sql}" for name, sql in selected_params.items())
    slots = {
        "render_params": f"%s::jsonb || jsonb_build_object({members})",
        "idempotency_key": idempotency_key_sql,
    }
    return _insert_sql(row, slots=slots, source=source)


def email_enqueue_many(
    *,
    messages: Sequence[EmailMessage],
    idempotency_keys: Sequence[str],
    kind: str = "mail",
    batch: str = "",
) -> list[OutboxMessage]:
    """`email_enqueue` for many messages at once (a campaign's chunk): one insert, and
    after commit one send task per `OUTBOX_SEND_BATCH` rows, each sent over one SMTP connection.

    `idempotency_keys[i]` is the key of `messages[i]`; messages whose key the outbox
    already holds are left out. Returns the rows written.
    """
    if len(messages) != len(idempotency_keys):
        raise ValueError("one idempotency key per message")
    _check_batch(batch)
    done = keys_already_queued(keys=list(idempotency_keys))
    rows, seen = [], set()
    for message, key in zip(messages, idempotency_keys, strict=True):
        if key in done or key in seen:
            continue
        seen.add(key)
        rows.append(
            OutboxMessage(
                **_content(message),
                kind=kind,
                idempotency_key=key,
                batch=batch,
                message_id=make_msgid(domain=_message_id_domain()),
            )
        )
    try:
        with transaction.atomic():
            OutboxMessage.objects.bulk_create(rows, batch_size=500)
    except IntegrityError:
        # A concurrent transaction wrote one of the keys first: one by one, so that
        # message is the one already there and the others are written.
        written = []
        for row in rows:
            row.pk = None  # a first insert batch may have set it before the rollback
            if _insert(row) is row:
                written.append(row)
        return written
    size = getattr(settings, "OUTBOX_SEND_BATCH", SEND_BATCH)
    for start in range(0, len(rows), size):
        ids = [row.pk for row in rows[start : start + size]]
        _send_batch_after_commit(ids)
    return rows


def keys_already_queued(*, keys: list[str], batch: int = 500) -> set[str]:
    """Which of these idempotency keys the outbox already holds (senders skip those)."""
    found: set[str] = set()
    for start in range(0, len(keys), batch):
        found.update(
            OutboxMessage.objects.filter(
                idempotency_key__in=keys[start : start + batch]
            ).values_list("idempotency_key", flat=True)
        )
    return found


# The most rows one send task delivers over one SMTP connection: small enough that a
# batch takes seconds (far below the task time limit, and two workers share a chunk).
SEND_BATCH = 50


def _send_batch_after_commit(ids: list[int]) -> None:
    from notifications.tasks import outbox_send_batch_task

    transaction.on_commit(lambda: outbox_send_batch_task.delay(message_ids=ids), robust=True)


def send_after_commit(*, ids: list[int]) -> None:
    """Send these outbox rows once the caller's transaction commits (at once outside one)."""
    from notifications.tasks import outbox_send_task

    for pk in ids:
        # robust: a broker that is down must not fail the caller's request; the row is
        # committed and the sweeper sends it later.
        transaction.on_commit(lambda pk=pk: outbox_send_task.delay(message_id=pk), robust=True)


# --- send ----------------------------------------------------------------------------


def _email_from_row(row: OutboxMessage) -> EmailMultiAlternatives:
    headers = {
        **row.headers,
        "Message-ID": row.message_id,
        "Date": formatdate(localtime=False),
    }
    email = EmailMultiAlternatives(
        subject=row.subject,
        body=row.body_text,
        from_email=row.from_email,
        to=[row.recipient],
        reply_to=[a.strip() for a in row.reply_to.split(",") if a.strip()] or None,
        headers=headers,
    )
    # The order is the sender's order of preference: plain text, HTML, then the calendar.
    if row.body_html:
        email.attach_alternative(row.body_html, "text/html")
    for content, mimetype in row.alternatives:
        email.attach_alternative(content, _without_charset(mimetype))
    for name, content, mimetype, *encoding in row.attachments:
        if encoding == ["base64"]:
            content = base64.b64decode(content)
        email.attach(name, content, _without_charset(mimetype))
    return email


def _without_charset(mimetype: str) -> str:
    """Django encodes text parts itself and adds their charset; a second one would clash.

    "text/calendar; method=REQUEST; charset=utf-8" → "text/calendar; method=REQUEST".
    """
    if not mimetype.startswith("text/"):
        return mimetype
    kept = [
        part
        for part in mimetype.split(";")
        if part.strip().partition("=")[0].strip().lower() != "charset"
    ]
    return ";".join(kept).strip()


def _is_transient(error: Exception) -> bool:
    """4xx answers and network trouble are worth retrying; 5xx and bad addresses are not."""
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return any(code < 500 for code, _ in error.recipients.values())
    if isinstance(error, smtplib.SMTPServerDisconnected | smtplib.SMTPConnectError):
        return True
    if isinstance(error, smtplib.SMTPResponseException):
        return 400 <= error.smtp_code < 500
    return isinstance(error, ConnectionError | TimeoutError)


def _claim(*, message_id: int) -> OutboxMessage | None:
    """Mark the row `sending` and return it, or None when there is nothing to do: it is
    sent, failed, purged (its content is gone), or another worker has it and is not stale.

    One UPDATE … RETURNING, in one round trip and one commit, where a transaction with a
    row lock took four: a worker claims every message it sends. Two workers claiming the
    same row are serialised by the row lock the UPDATE takes, and the second one's
    condition is checked again on the row as the first left it, so only one gets it.
    """
    now = timezone.now()
    stored = OutboxMessage._meta.get_field("sending_started_at").get_db_prep_value
    started, stale = stored(now, connection), stored(now - sending_stale_after(), connection)
    params = [Status.SENDING.value, started, started, message_id, Status.QUEUED.value,
              Status.SENDING.value, stale]  # fmt: skip
    # The table's name from the model's metadata; every value is a parameter.
    sql = (
        f"UPDATE {connection.ops.quote_name(OutboxMessage._meta.db_table)} "  # noqa: S608
        "SET status = %s, attempts = attempts + 1, sending_started_at = %s, updated_at = %s "
        "WHERE id = %s AND purged_at IS NULL "
        "AND (status = %s OR (status = %s AND sending_started_at <= %s)) RETURNING *"
    )
    claimed = list(OutboxMessage.objects.raw(sql, params))
    return claimed[0] if claimed else None


def _finish(row: OutboxMessage, **fields) -> None:
    """Record the outcome, unless another worker took the row over in the meantime."""
    OutboxMessage.objects.filter(
        pk=row.pk, status=Status.SENDING, sending_started_at=row.sending_started_at
    ).update(updated_at=timezone.now(), **fields)


def _rendered_content(row: OutboxMessage) -> dict:
    """What a deferred row's callable renders, as row fields (nothing stored)."""
    render = import_string(row.render_with)
    # The callable may switch to the recipient's language; the worker's stays as it was.
    with translation.override(translation.get_language()):
        message = render(**row.render_params)
    content = _content(message)
    if content.pop("recipient").lower() != row.recipient.lower():
        raise ValueError(f"{row.render_with} rendered a message to someone else")
    return content


def outbox_rendered(*, message: OutboxMessage) -> OutboxMessage:
    """`message` with its content, for reading it (a person's data export): a deferred
    message not sent yet is rendered in memory now; nothing is stored."""
    if message.render_with:
        try:
            content = _rendered_content(message)
        except Exception:  # a message that cannot be rendered must not stop the reader
            logger.exception("outbox message %s could not be rendered for reading", message.pk)
            return message
        for field, value in content.items():
            setattr(message, field, value)
    return message


def _render(row: OutboxMessage) -> bool:
    """Render a deferred row with its callable and store the content in it; False when
    another worker took the row over meanwhile. Raises whatever the callable raises."""
    content = _rendered_content(row)
    content.update(render_with="", render_params={})
    stored = OutboxMessage.objects.filter(
        pk=row.pk, status=Status.SENDING, sending_started_at=row.sending_started_at
    ).update(**content, updated_at=timezone.now())
    for field, value in content.items():
        setattr(row, field, value)
    return bool(stored)


def _deliver(row: OutboxMessage, connection) -> None:
    """Send one claimed row over `connection` (opened here if it is not yet) and record
    the outcome. Raises TransientDeliveryError after putting the row back in `queued`,
    and any other exception (a bug) likewise."""
    try:
        if row.render_with and not _render(row):
            return
        email = _email_from_row(row)
    except Exception as error:
        # A bug, not the mail server: queue it again for the sweeper and let it surface.
        _finish(row, status=Status.QUEUED, last_error=f"{type(error).__name__}: {error}"[:2000])
        raise
    try:
        connection.open()
        connection.send_messages([email])
    except (smtplib.SMTPException, OSError, ValueError) as error:
        reason = f"{type(error).__name__}: {error}"[:2000]
        if _is_transient(error):
            _finish(row, status=Status.QUEUED, last_error=reason)
            raise TransientDeliveryError(reason) from error
        logger.warning("outbox message %s failed permanently: %s", row.pk, reason)
        _finish(row, status=Status.FAILED, last_error=reason)
        return
    except Exception as error:
        _finish(row, status=Status.QUEUED, last_error=f"{type(error).__name__}: {error}"[:2000])
        raise
    # Sent is sent: record it even if the sweeper re-queued the row meanwhile.
    OutboxMessage.objects.filter(pk=row.pk).exclude(status=Status.SENT).update(
        status=Status.SENT, sent_at=timezone.now(), updated_at=timezone.now(), last_error=""
    )


def _close(connection) -> None:
    with contextlib.suppress(smtplib.SMTPException, OSError):
        connection.close()


@contextlib.contextmanager
def _asynchronous_commit() -> Iterator[None]:
    """PostgreSQL: the worker's own commits (claim, sent, failed) do not wait for the
    write-ahead log to reach the disk; a worker writes two per message, and two workers
    spent most of their time waiting for those flushes.

    A killed worker changes nothing: the server holds its commits. A crash of PostgreSQL
    itself may lose the last fraction of a second of them (at most three times
    `wal_writer_delay`, 0.6 s by default); rows marked sent in that moment go back to
    `sending` and the sweeper sends them again. `OUTBOX_ASYNCHRONOUS_COMMIT = False` keeps
    every commit flushed.
    """
    if connection.vendor != "postgresql" or not settings.OUTBOX_ASYNCHRONOUS_COMMIT:
        yield
        return
    with connection.cursor() as cursor:
        cursor.execute("SET synchronous_commit = off")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute("RESET synchronous_commit")
        except DatabaseError:
            connection.close()  # never leave the setting on a connection used again


def outbox_send(*, message_id: int) -> None:
    """Send one outbox row; running it twice sends once.

    The SMTP conversation happens outside any transaction, between marking the row
    `sending` and marking it `sent`. A crash inside that window leaves the row `sending`;
    the sweeper re-queues it once stale, so the message is never lost but may go out twice
    (see the module docstring). A deferred row is rendered first (`email_enqueue_deferred`).
    """
    with _asynchronous_commit():
        row = _claim(message_id=message_id)
        if row is None:
            return
        smtp = get_connection()
        try:
            _deliver(row, smtp)
        finally:
            _close(smtp)


def outbox_send_batch(*, message_ids: list[int]) -> None:
    """Send these rows over one SMTP connection; running it twice sends each once.

    Each row is claimed just before its own send and marked sent just after, exactly as
    `outbox_send` does, so a dead worker leaves at most the one message it was sending to
    the sweeper; rows another worker holds, or already sent, are passed by. A row the
    server refuses for now goes back to `queued`; when the server or the connection is
    the trouble, the rest of the batch is left queued and untouched. Either way this
    raises TransientDeliveryError at the end, so the task retries the batch (rows sent
    meanwhile are passed by). A bug in one message is logged, and the others go out.
    """
    smtp = get_connection()
    retry: TransientDeliveryError | None = None
    try:
        with _asynchronous_commit():
            for message_id in message_ids:
                row = _claim(message_id=message_id)
                if row is None:
                    continue
                try:
                    _deliver(row, smtp)
                except TransientDeliveryError as error:
                    retry = error
                    if not isinstance(error.__cause__, smtplib.SMTPRecipientsRefused):
                        break  # the server or the connection: the others would fail alike
                except SoftTimeLimitExceeded:
                    raise
                except Exception:
                    logger.exception("outbox message %s: not sent, queued again", row.pk)
    finally:
        _close(smtp)
    if retry is not None:
        raise retry


# --- repair --------------------------------------------------------------------------


# The most rows one sweep re-enqueues (oldest first); the rest wait for the next sweep.
SWEEP_BATCH = 1000


def _lost(*, now: datetime, broker_started: datetime | None = None) -> Q:
    """Rows that have lost their task: queued before the broker last started (a restart
    dropped it), or probably lost: queued and untouched for the requeue time (never
    tried: `requeue_after`; after a failed attempt: `retry_requeue_after`), or `sending`
    for longer than a live worker can take."""
    lost = (
        Q(status=Status.QUEUED, attempts=0, updated_at__lt=now - requeue_after())
        | Q(status=Status.QUEUED, attempts__gt=0, updated_at__lt=now - retry_requeue_after())
        | Q(status=Status.SENDING, sending_started_at__lt=now - sending_stale_after())
    )
    if broker_started is not None:
        lost |= Q(status=Status.QUEUED, updated_at__lt=broker_started)
    return lost


def outbox_sweep(*, now: datetime | None = None) -> int:
    """Re-enqueue rows whose task was lost; give up on rows past the maximum age.

    Returns how many rows were re-enqueued. Run every 30 s by celery beat. A Redis broker
    tells when it started (`notifications.broker`): rows queued before a restart go out
    again at the next sweep. Without that (another broker, or a task lost otherwise), a
    row goes out within requeue_after + 30 s (about 90 s).

    The broker cannot be asked whether a row's task is still waiting, so for the time
    rule a row that is merely waiting in a long queue looks lost too. Say 5,000
    invitations are queued and a worker sends 10 a second: after a minute the rows at the
    back are re-enqueued. That costs little and stays bounded: a row is re-enqueued at
    most once per requeue time (its `updated_at` is set to now here), a sweep re-enqueues
    at most SWEEP_BATCH rows, and the duplicate task is a no-op that sends nothing:
    `_claim` finds the row sent, or locked or `sending` by the worker that has it (one
    indexed row lock, no SMTP). A longer requeue time would mean fewer such duplicates
    but a longer wait for mail whose task was lost some other way.
    """
    from notifications.tasks import outbox_send_task

    now = now or timezone.now()
    unpurged = OutboxMessage.objects.filter(purged_at__isnull=True)
    open_rows = Q(status=Status.QUEUED) | Q(
        status=Status.SENDING, sending_started_at__lt=now - sending_stale_after()
    )
    given_up = unpurged.filter(open_rows, queued_at__lt=now - max_age()).update(
        status=Status.FAILED, last_error="gave up after max age", updated_at=now
    )
    if given_up:
        logger.warning("outbox: gave up on %s message(s) after max age", given_up)

    lost = _lost(now=now, broker_started=broker_started_at(now=now))
    stale = unpurged.filter(lost)
    ids = list(stale.order_by("updated_at").values_list("pk", flat=True)[:SWEEP_BATCH])
    if not ids:
        return 0
    # The conditions again, so a row that moved on since the read is left alone; bumping
    # updated_at keeps the next sweeps from sending the same task again for a requeue time.
    with transaction.atomic():
        still_lost = set(
            unpurged.select_for_update(skip_locked=True)
            .filter(lost, pk__in=ids)
            .values_list("pk", flat=True)
        )
        ids = [pk for pk in ids if pk in still_lost]  # oldest first
        OutboxMessage.objects.filter(pk__in=ids).update(status=Status.QUEUED, updated_at=now)
    for pk in ids:
        outbox_send_task.delay(message_id=pk)
    return len(ids)


@transaction.atomic
def outbox_retry_failed(*, ids: list[int] | None = None, batch: str | None = None) -> int:
    """Queue failed messages again; returns the count.

    All failed messages, or only those in `ids` and/or in `batch` (both given: both apply).
    A purged message (its recipient's account was erased) is never queued again.
    """
    failed = OutboxMessage.objects.select_for_update().filter(
        status=Status.FAILED, purged_at__isnull=True
    )
    if ids is not None:
        failed = failed.filter(pk__in=ids)
    if batch is not None:
        failed = failed.filter(batch=batch)
    retry_ids = list(failed.values_list("pk", flat=True))
    now = timezone.now()
    OutboxMessage.objects.filter(pk__in=retry_ids).update(
        status=Status.QUEUED, queued_at=now, updated_at=now
    )
    send_after_commit(ids=retry_ids)
    return len(retry_ids)


# --- what the outbox keeps -------------------------------------------------------------


# A purged message keeps what organisers count and operators look up (recipient, kind,
# batch, subject, status, times, Message-ID); what only sending needed goes.
_PURGED_CONTENT = {
    "body_text": "",
    "body_html": "",
    "alternatives": [],
    "attachments": [],
    "headers": {},
    "render_params": {},
}
PURGE_BATCH = 1000


def outbox_purge_bodies(*, now: datetime | None = None) -> int:
    """Blank the bodies, calendar parts, attachments and headers of messages sent longer
    ago than `OUTBOX_BODY_RETENTION_DAYS`, and of failed ones nobody has touched for as
    long (nobody retries a month-old failure; its body is personal data all the same);
    returns how many were purged.

    Queued and sending messages keep theirs (they will still be sent). A purged message
    is never sent again: the send task, the sweeper and retries pass it by. Run daily by
    celery beat (`purge_outbox_bodies` from cron); running it twice purges once.
    """
    now = now or timezone.now()
    cutoff = now - body_retention()
    due = OutboxMessage.objects.filter(
        Q(status=Status.SENT, sent_at__lt=cutoff) | Q(status=Status.FAILED, updated_at__lt=cutoff),
        purged_at__isnull=True,
    )
    purged = 0
    while ids := list(due.order_by("sent_at", "pk").values_list("pk", flat=True)[:PURGE_BATCH]):
        # The conditions again: one short transaction per batch, nothing re-read.
        updated = due.filter(pk__in=ids).update(**_PURGED_CONTENT, purged_at=now, updated_at=now)
        purged += updated
        if not updated:
            break
    if purged:
        logger.info("outbox: purged the content of %s message(s) sent before the retention", purged)
    return purged


class OutboxErasure(TypedDict):
    deleted: int  # undelivered messages to the person, which can no longer be sent
    anonymised: int  # sent or failed messages to the person, kept as anonymous counts
    redacted: int  # messages to other people that named the person


# Where an erased person's kept messages say they went: an address that cannot receive.
ERASED_RECIPIENT = "erased@invalid.invalid"
ERASED_ERROR = "Not sent again: the recipient's account was erased."
_SEARCHED_TEXT = ("subject", "body_text", "body_html", "reply_to", "from_email", "last_error",
                  "idempotency_key")  # fmt: skip
_SEARCHED_DATA = ("headers", "alternatives", "attachments")


def _recipient_is(emails: Sequence[str]) -> Q:
    condition = Q(pk__in=[])
    for email in emails:
        condition |= Q(recipient__iexact=email)
    return condition


def _without_addresses(addresses: str, emails: set[str]) -> str:
    """A comma-separated address list without the person's addresses."""
    kept = [
        address.strip()
        for address in addresses.split(",")
        if address.strip() and parseaddr(address)[1].lower() not in emails
    ]
    return ", ".join(kept)


def _redact_alternatives(parts: list, redactor: Redactor) -> list:
    """[[content, mimetype], ...]"""
    return [[redactor.text(content), mimetype] for content, mimetype in parts]


def _redact_attachments(parts: list, redactor: Redactor) -> list:
    """[[filename, content, mimetype, ("base64")], ...]; binary content is left alone."""
    return [
        [redactor.text(name), content if encoding == ["base64"] else redactor.text(content),
         mimetype, *encoding]
        for name, content, mimetype, *encoding in parts
    ]  # fmt: skip


def _redact_row(row: OutboxMessage, redactor: Redactor, emails: set[str]) -> list[str]:
    """Redact one message to someone else in place; returns the fields that changed."""
    changed = []
    for field in ("subject", "body_text", "body_html", "last_error"):
        value = redactor.text(getattr(row, field))
        if value != getattr(row, field):
            setattr(row, field, value)
            changed.append(field)
    reply_to = _without_addresses(row.reply_to, emails)
    if reply_to != row.reply_to:
        row.reply_to = reply_to
        changed.append("reply_to")
    if any(address.lower() in emails for _, address in getaddresses([row.from_email])):
        row.from_email = settings.DEFAULT_FROM_EMAIL
        changed.append("from_email")
    if row.idempotency_key:
        key = redactor.text(row.idempotency_key, replacement=f"erased-{row.pk}")
        if key != row.idempotency_key:
            row.idempotency_key = key
            changed.append("idempotency_key")
    for field, value in (
        ("headers", redactor.data(row.headers)),
        ("alternatives", _redact_alternatives(row.alternatives, redactor)),
        ("attachments", _redact_attachments(row.attachments, redactor)),
    ):
        if value != getattr(row, field):
            setattr(row, field, value)
            changed.append(field)
    return changed


@transaction.atomic
def outbox_erase_person(
    *, emails: Sequence[str], names: Sequence[str], namesakes: Sequence[str] = ()
) -> OutboxErasure:
    """Take a person out of the outbox, when their account is erased.

    Messages to any of `emails`: undelivered ones (queued, sending) are deleted — there is
    nobody to send them to; sent and failed ones stay as anonymous rows, so the delivery
    counts organisers saw stay true: recipient `ERASED_RECIPIENT`, no subject, bodies,
    attachments, headers or reply address, marked purged, so never sent or retried again.

    Messages to other people that name the person (any of `names` or `emails` in the
    subject, bodies, calendar parts, attachments, headers, error, idempotency key): each
    mention becomes "a former member", and their address leaves Reply-To lists. The
    caller passes whole names (a lone first name would rewrite other people's greetings),
    and the addresses of `namesakes`, other people who go by one of those names: mail to
    them names themselves and is left as it is.

    Call it last in the erasure's transaction: mail that erasing itself queued (a partner
    told that a match ended) is redacted before it can go out.
    """
    emails = [e.strip().lower() for e in emails if e.strip()]
    redactor = Redactor(names=names, emails=emails)
    now = timezone.now()
    theirs = _recipient_is(emails)
    deleted, _ = OutboxMessage.objects.filter(
        theirs, status__in=(Status.QUEUED, Status.SENDING)
    ).delete()
    kept = OutboxMessage.objects.filter(theirs)
    for pk, key in kept.exclude(idempotency_key=None).values_list("pk", "idempotency_key"):
        # e.g. "events.invitation:<campaign>:<address>"; unique, so per row.
        redacted_key = redactor.text(key, replacement=f"erased-{pk}")
        if redacted_key != key:
            OutboxMessage.objects.filter(pk=pk).update(idempotency_key=redacted_key)
    husk = {
        **_PURGED_CONTENT,
        "recipient": ERASED_RECIPIENT,
        "subject": "",
        "reply_to": "",
        "purged_at": now,
        "updated_at": now,
    }
    anonymised = kept.filter(status=Status.FAILED).update(**husk, last_error=ERASED_ERROR)
    anonymised += kept.exclude(status=Status.FAILED).update(**husk, last_error="")

    redacted = 0
    needles = redactor.needles() if redactor else []
    if needles:
        mentions = Q(pk__in=[])
        for needle in needles:
            for field in (*_SEARCHED_TEXT, *_SEARCHED_DATA):
                mentions |= Q(**{f"{field}__icontains": needle})
        others = OutboxMessage.objects.filter(mentions).exclude(theirs)
        others = others.exclude(_recipient_is([e.strip() for e in namesakes if e.strip()]))
        for row in others.iterator(chunk_size=200):
            changed = _redact_row(row, redactor, set(emails))
            if changed:
                row.save(update_fields=changed)
                redacted += 1
    logger.info(
        "outbox: erased a person: %s deleted, %s anonymised, %s redacted",
        deleted,
        anonymised,
        redacted,
    )
    return OutboxErasure(deleted=deleted, anonymised=anonymised, redacted=redacted)
