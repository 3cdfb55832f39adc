"""allauth tells us when an address becomes verified: the domain rule and the contact list
of organisations may then confirm the person (members/membership.py)."""

from allauth.account.signals import email_confirmed, user_signed_up
from django.dispatch import receiver

from members import membership


@receiver(email_confirmed, dispatch_uid="members.address_rules_on_confirmation")
def address_rules_on_confirmation(sender, request, email_address, **kwargs) -> None:
    membership.affiliation_apply_address_rules(user=email_address.user)


@receiver(user_signed_up, dispatch_uid="members.address_rules_on_signup")
def address_rules_on_signup(sender, request, user, **kwargs) -> None:
    # An address can be verified at sign-up already (an invitation link, a social login).
    membership.affiliation_apply_address_rules(user=user)
