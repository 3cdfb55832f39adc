from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.contrib.sites.shortcuts import get_current_site
from django.utils import translation

from members.models import Profile
from notifications.services import email_enqueue


class AccountAdapter(DefaultAccountAdapter):
    """Account mail goes through Celery, so sign-up never waits for the mail server."""

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        request = allauth_context.request
        ctx = {"request": request, "email": email, "current_site": get_current_site(request)}
        ctx.update(context)
        # In the language of the account's member; for an address with no member (or none
        # chosen yet), in the language of the page that asked for it.
        chosen = (
            Profile.objects.filter(user__email__iexact=email)
            .exclude(preferred_language="")
            .values_list("preferred_language", flat=True)
            .first()
        )
        with translation.override(chosen or translation.get_language()):
            message = self.render_mail(template_prefix, email, ctx)
        email_enqueue(message=message, kind="account." + template_prefix.rsplit("/", 1)[-1])
