from django.conf import settings
from django.contrib import admin
from django.urls import include, path

from members.views import HomeView

admin.site.site_header = f"{settings.SITE_NAME} administration"
admin.site.site_title = settings.SITE_NAME

urlpatterns = [
    path("", HomeView.as_view(), name="home"),
    path("accounts/", include("allauth.urls")),
    path("admin/", admin.site.urls),
    path("api/v1/", include("members.api_urls")),
    path("events/", include("events.urls")),
    path("", include("members.urls")),
]
