"""Account mail travels the production path: web → Redis → Celery worker → SMTP."""

import re

import pytest
from allauth.account.models import EmailAddress

from members.models import Profile

pytestmark = pytest.mark.integration


def test_sign_up_mail_reaches_the_mailbox_through_a_real_worker_and_confirms_the_address(
    client, celery_worker, smtp_server, settings
):
    mailbox, _ = smtp_server
    settings.ALLOWED_HOSTS = ["testserver"]

    response = client.post(
        "/accounts/signup/",
        {
            "email": "ines.duarte@example.org",
            "password1": "a-Long-and-Unusual-pass-42",
            "password2": "a-Long-and-Unusual-pass-42",
            "display_name": "Inês Duarte",
        },
    )
    assert response.status_code == 302
    assert Profile.objects.get(user__email="ines.duarte@example.org").display_name == "Inês Duarte"

    [message] = mailbox.wait_for(1)
    assert message["To"] == "ines.duarte@example.org"
    assert "Confirm" in message["Subject"]
    body = message.get_body(preferencelist=("plain",)).get_content()
    confirm_path = re.search(r"https?://[^/\s]+(/accounts/confirm-email/[^\s]+/)", body).group(1)

    assert client.get(confirm_path).status_code == 200
    client.post(confirm_path)
    assert EmailAddress.objects.get(email="ines.duarte@example.org").verified
    assert any("outbox_send_task" in line and "succeeded" in line for line in celery_worker.log)


def test_password_reset_mail_is_delivered_by_the_worker(
    client, celery_worker, smtp_server, settings
):
    from tests.factories import UserFactory

    mailbox, _ = smtp_server
    settings.ALLOWED_HOSTS = ["testserver"]
    UserFactory(email="reset.me@example.org")

    client.post("/accounts/password/reset/", {"email": "reset.me@example.org"})

    [message] = mailbox.wait_for(1)
    assert message["To"] == "reset.me@example.org"
    assert "/accounts/password/reset/key/" in message.get_body(("plain",)).get_content()
