"""API tokens: one per person, for `Authorization: Token <key>` against the JSON API."""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext as _
from rest_framework.authtoken.models import Token

from members.models import User


def api_token_for(*, user: User) -> Token | None:
    return Token.objects.filter(user=user).first()


@transaction.atomic
def api_token_create(*, user: User) -> Token:
    """Issue a new key for this person; a key they had before stops working."""
    if not user.is_active:
        raise ValidationError(_("An inactive account cannot have an API token."))
    Token.objects.filter(user=user).delete()
    return Token.objects.create(user=user)


def api_token_revoke(*, user: User) -> bool:
    """Delete the person's key; True if there was one."""
    deleted, _rest = Token.objects.filter(user=user).delete()
    return bool(deleted)
