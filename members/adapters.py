from allauth.account.adapter import DefaultAccountAdapter
from allauth.core import context as allauth_context
from django.contrib.sites.shortcuts import get_current_site

from notifications.services import email_enqueue


class AccountAdapter(DefaultAccountAdapter):
    """Account mail goes through Celery, so sign-up never waits for the mail server."""

    def send_mail(self, template_prefix: str, email: str, context: dict) -> None:
        request = allauth_context.request
        ctx = {"request": request, "email": email, "current_site": get_current_site(request)}
        ctx.update(context)
        email_enqueue(
            message=self.render_mail(template_prefix, email, ctx),
            kind="account." + template_prefix.rsplit("/", 1)[-1],
        )
