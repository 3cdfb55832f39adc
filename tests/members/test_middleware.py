"""Times are shown in the signed-in member's own time zone."""

import pytest
from django.contrib.auth.models import AnonymousUser
from django.test import RequestFactory
from django.utils import timezone

from members.middleware import ViewerTimezoneMiddleware
from members.models import Profile
from tests.factories import ProfileFactory, UserFactory

pytestmark = pytest.mark.django_db


def zone_during_request(user) -> str:
    """The active zone name while a view runs for this user."""
    seen = []

    def view(request):
        seen.append(timezone.get_current_timezone_name())
        return None

    request = RequestFactory().get("/")
    request.user = user
    ViewerTimezoneMiddleware(view)(request)
    return seen[0]


@pytest.fixture(autouse=True)
def _restore_zone():
    yield
    timezone.deactivate()


def test_a_member_in_new_york_gets_new_york_time():
    profile = ProfileFactory(timezone="America/New_York")

    assert zone_during_request(profile.user) == "America/New_York"


def test_the_next_anonymous_request_is_back_on_the_site_zone(settings):
    profile = ProfileFactory(timezone="Asia/Tokyo")
    assert zone_during_request(profile.user) == "Asia/Tokyo"

    assert zone_during_request(AnonymousUser()) == settings.TIME_ZONE


def test_a_member_without_profile_gets_the_site_zone(settings):
    assert zone_during_request(UserFactory()) == settings.TIME_ZONE


@pytest.mark.parametrize("name", ["Mars/Olympus_Mons", "", "../../etc/passwd"])
def test_an_unusable_zone_falls_back_to_the_site_zone(settings, name):
    profile = ProfileFactory()
    Profile.objects.filter(pk=profile.pk).update(timezone=name)
    user = type(profile.user).objects.select_related("profile").get(pk=profile.user.pk)

    assert zone_during_request(user) == settings.TIME_ZONE
