from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from django.utils.functional import lazy
from django.utils.translation import gettext
from drf_spectacular.views import SpectacularAPIView, SpectacularJSONAPIView
from rest_framework.renderers import JSONRenderer

from config.api_docs import DocsRenderer
from members.admin_auth_views import admin_login, admin_password_change
from members.views import HomeView, language_switch

admin.site.site_header = lazy(
    lambda: gettext("%(site)s administration") % {"site": settings.SITE_NAME}, str
)()
admin.site.site_title = settings.SITE_NAME
# One door for passwords: the admin's login and password change are allauth's pages, under
# the rate limits and lockout of ACCOUNT_RATE_LIMITS. Set before `admin.site.urls` is read.
admin.site.login = admin_login
admin.site.password_change = admin_password_change

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("accounts/", include("allauth.urls")),
    path("i18n/setlang/", language_switch, name="set_language"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("members.api_urls")),
    path("api/v1/", include("events.api_urls")),
    path("api/v1/", include("matchmaking.brokerage.api_urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api_schema"),
    # Readable docs without assets from a CDN: the schema in DRF's browsable renderer.
    path(
        "api/docs/",
        SpectacularJSONAPIView.as_view(renderer_classes=[DocsRenderer, JSONRenderer]),
        name="api_docs",
    ),
    path("", include("insights.urls")),
    path("events/", include("events.urls")),
    path("mentoring/", include("matchmaking.urls")),
    path("networking/", include("matchmaking.brokerage.urls")),
    path("", include("members.urls")),
]

# JSON under /api/ for addresses that match no pattern (the schema promises it), the usual
# page elsewhere.
handler404 = "members.api.page_not_found"
