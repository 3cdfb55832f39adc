from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError

from members.api_tokens import api_token_create
from members.models import User


class Command(BaseCommand):
    help = (
        "Issue an API token for the account with this e-mail address and print its key. "
        "A key the account had before stops working."
    )

    def add_arguments(self, parser):
        parser.add_argument("email")

    def handle(self, *args, email: str, **options):
        user = User.objects.filter(email__iexact=email.strip()).first()
        if user is None:
            raise CommandError(f"No account with the e-mail address {email}.")
        try:
            token = api_token_create(user=user)
        except ValidationError as error:
            raise CommandError(" ".join(error.messages)) from error
        self.stdout.write(token.key)
