"""A tiny real SMTP server whose answers a test chooses (421 busy, 550 refused, …)."""

import socket
from collections.abc import Iterator

import pytest
from aiosmtpd.controller import Controller

from tests.notifications.broker import BrokerQueue, tasks_waiting


class ScriptedSMTP:
    """Accepts mail, or answers RCPT/DATA with the reply a test set."""

    def __init__(self) -> None:
        self.rcpt_reply: str | None = None
        self.data_reply: str | None = None
        # Replies to RCPT for some addresses only: {address: "550 No such user"}.
        self.rcpt_replies: dict[str, str] = {}
        self.received: list[bytes] = []
        # The client's (host, port) of each accepted message: one port, one connection.
        self.peers: list[tuple] = []

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802
        if self.rcpt_reply or address in self.rcpt_replies:
            return self.rcpt_reply or self.rcpt_replies[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        if self.data_reply:
            return self.data_reply
        self.received.append(envelope.content)
        self.peers.append(session.peer)
        return "250 Message accepted for delivery"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def smtp(settings) -> Iterator[ScriptedSMTP]:
    """Django's SMTP backend pointed at a real aiosmtpd server on localhost."""
    handler = ScriptedSMTP()
    port = free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    try:
        yield handler
    finally:
        controller.stop()


@pytest.fixture
def closed_port(settings) -> int:
    """Django's SMTP backend pointed at a port nobody listens on."""
    port = free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_TIMEOUT = 5
    return port


@pytest.fixture
def broker_queue(django_capture_on_commit_callbacks) -> Iterator[BrokerQueue]:
    """Tasks wait in the (in-memory) broker instead of running at once; see `broker.py`."""
    with tasks_waiting(django_capture_on_commit_callbacks) as queue:
        yield queue
