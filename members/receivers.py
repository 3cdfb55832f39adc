"""allauth tells us when an address becomes verified: the domain rule and the contact list
of organisations may then confirm the person (members/membership.py); and when a password
changes, so that an API token made under the old one stops working."""

from allauth.account.signals import (
    email_confirmed,
    password_changed,
    password_reset,
    password_set,
    user_signed_up,
)
from django.dispatch import receiver

from members import api_tokens, membership


@receiver(email_confirmed, dispatch_uid="members.address_rules_on_confirmation")
def address_rules_on_confirmation(sender, request, email_address, **kwargs) -> None:
    membership.affiliation_apply_address_rules(user=email_address.user)


@receiver(user_signed_up, dispatch_uid="members.address_rules_on_signup")
def address_rules_on_signup(sender, request, user, **kwargs) -> None:
    # An address can be verified at sign-up already (an invitation link, a social login).
    membership.affiliation_apply_address_rules(user=user)


@receiver(password_changed, dispatch_uid="members.api_token_revoke_on_password_change")
@receiver(password_set, dispatch_uid="members.api_token_revoke_on_password_set")
@receiver(password_reset, dispatch_uid="members.api_token_revoke_on_password_reset")
def api_token_revoke_on_new_password(sender, request, user, **kwargs) -> None:
    # Whoever knew the old password may have made a token; a new password locks them out.
    api_tokens.api_token_revoke(user=user)
