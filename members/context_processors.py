from django.conf import settings

from members.selectors import user_is_organiser


def site(request):
    user = getattr(request, "user", None)
    return {
        "SITE_NAME": settings.SITE_NAME,
        "user_is_organiser": (
            (lambda: user_is_organiser(user=user)) if user and user.is_authenticated else False
        ),
    }
