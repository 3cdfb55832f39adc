"""Fixtures shared by the whole suite.

A small world: two clusters, each with a member organisation; people who belong to
them through their organisation, an organiser of the first cluster and a staff user.
"""

import io

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.test import Client
from django.utils import translation
from PIL import Image

from members.models import Profile
from tests.factories import (
    ClusterFactory,
    ClusterOrganiserFactory,
    OrganisationFactory,
    ProfileFactory,
    StaffFactory,
)


def pytest_configure(config):
    # WhiteNoise warns that `collectstatic` has not run; tests serve no static files.
    config.addinivalue_line("filterwarnings", "ignore:No directory at:UserWarning")


@pytest.fixture(autouse=True)
def _testserver_is_an_allowed_host(settings):
    settings.ALLOWED_HOSTS = [*settings.ALLOWED_HOSTS, "testserver"]


@pytest.fixture(autouse=True)
def _site_language():
    """A request's LocaleMiddleware leaves its language active in the thread, as on a
    server, where the next request sets its own: here each test starts in the default."""
    translation.activate(django_settings.LANGUAGE_CODE)
    yield
    translation.activate(django_settings.LANGUAGE_CODE)


@pytest.fixture(autouse=True)
def _empty_cache():
    """allauth keeps its rate-limit counters in the cache: no test inherits another's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Uploaded photos go to a directory that disappears with the test."""
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def client_for(db):
    """A fresh test client signed in as the given user (or anonymous for None)."""

    def make(user=None) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return make


@pytest.fixture
def cluster(db):
    return ClusterFactory(name="Mechatronics Cluster Upper Austria", slug="mechatronics-ua")


@pytest.fixture
def other_cluster(db):
    return ClusterFactory(name="Maritime Cluster Brittany", slug="maritime-bzh")


@pytest.fixture
def organisation(cluster):
    return OrganisationFactory(name="Keller Antriebstechnik", clusters=[cluster])


@pytest.fixture
def other_organisation(other_cluster):
    return OrganisationFactory(name="Chantiers Le Goff", country="FR", clusters=[other_cluster])


@pytest.fixture
def member(organisation) -> Profile:
    """A member of `cluster` through their organisation, visible to their cluster."""
    return ProfileFactory(display_name="Anna Keller", organisation=organisation)


@pytest.fixture
def colleague(organisation) -> Profile:
    """Another member of `cluster`, who views pages in most tests."""
    return ProfileFactory(display_name="Bruno Weiss", organisation=organisation)


@pytest.fixture
def outsider(other_organisation) -> Profile:
    """A member of `other_cluster` only."""
    return ProfileFactory(display_name="Yann Le Goff", organisation=other_organisation)


@pytest.fixture
def organiser(cluster):
    """Organises `cluster` without belonging to any organisation."""
    profile = ProfileFactory(display_name="Olga Organiser")
    ClusterOrganiserFactory(cluster=cluster, user=profile.user)
    return profile.user


@pytest.fixture
def staff(db):
    user = StaffFactory(email="staff@example.org")
    ProfileFactory(user=user, display_name="Site Staff")
    return user


@pytest.fixture
def png() -> bytes:
    """A small, valid PNG image."""
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), "teal").save(buffer, format="PNG")
    return buffer.getvalue()
