from importlib.util import find_spec

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from events.replies import reply_domain, serve


class Command(BaseCommand):
    help = (
        "Receive calendar replies (Accept/Decline from Outlook, Gmail, Apple Calendar) over "
        "LMTP from the mail server of CALENDAR_REPLY_DOMAIN, until interrupted."
    )

    def add_arguments(self, parser):
        parser.add_argument("--host", default=settings.CALENDAR_REPLY_LMTP_HOST)
        parser.add_argument("--port", type=int, default=settings.CALENDAR_REPLY_LMTP_PORT)
        parser.add_argument(
            "--smtp", action="store_true", help="Speak SMTP instead of LMTP, for trying by hand."
        )

    def handle(self, *args, host, port, smtp, **options):
        if not reply_domain():
            raise CommandError("Set CALENDAR_REPLY_DOMAIN: without it there are no replies.")
        if find_spec("aiosmtpd") is None:
            raise CommandError("The receiver needs aiosmtpd: pip install 'aiosmtpd>=1.4'.")
        self.stdout.write(
            f"Receiving replies to @{reply_domain()} over {'SMTP' if smtp else 'LMTP'} "
            f"on {host}:{port}; Ctrl-C stops."
        )
        serve(host=host, port=port, smtp=smtp)
