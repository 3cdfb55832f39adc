"""The admin's own sign-in and password-change pages, replaced (config/urls.py).

Staff sign in at allauth's login like everybody else, so its rate limits and lockout
(ACCOUNT_RATE_LIMITS) guard the admin too: the admin has no password form of its own.
"""

from urllib.parse import urlencode

from django.contrib import admin
from django.contrib.auth.decorators import login_not_required
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache


@never_cache
@login_not_required
def admin_login(request):
    """`/admin/login/`: allauth's sign-in, then back to the admin page that was asked for.

    Whoever is signed in without admin access gets the admin's refusal here: sent on to
    allauth, which forwards a signed-in person to `next`, they would come straight back.
    """
    next_url = request.GET.get("next") or reverse("admin:index")
    login_url = f"{reverse('account_login')}?{urlencode({'next': next_url})}"
    if request.user.is_authenticated and not admin.site.has_permission(request):
        context = {
            **admin.site.each_context(request),
            "title": _("Administration"),
            "username": request.user.get_username(),
            "login_url": login_url,
        }
        return render(request, "members/admin_refused.html", context, status=403)
    return redirect(login_url)


def admin_password_change(request):
    """`/admin/password_change/`: allauth's page, which checks the current password under
    its own limit. The admin wraps this view, so only staff get here."""
    return redirect("account_change_password")
