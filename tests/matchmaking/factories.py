"""Factories for mentoring programmes. Applications are written directly (approved by
default); tests of the application rules go through `services.application_submit`."""

from datetime import timedelta

import factory
from django.utils import timezone

from matchmaking.models import Application, Programme
from members.models import Language, Topic
from tests.factories import ClusterFactory, OrganisationFactory, ProfileFactory


class ProgrammeFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Programme
        skip_postgeneration_save = True

    title = factory.Sequence(lambda n: f"Mentoring programme {n}")
    slug = factory.Sequence(lambda n: f"mentoring-programme-{n}")
    status = Programme.Status.OPEN
    applications_open_at = factory.LazyFunction(lambda: timezone.now() - timedelta(days=7))
    applications_close_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))
    starts_on = factory.LazyFunction(lambda: (timezone.now() + timedelta(days=14)).date())
    ends_on = factory.LazyFunction(lambda: (timezone.now() + timedelta(days=200)).date())

    @factory.post_generation
    def clusters(self, create, extracted, **kwargs):
        if create:
            self.clusters.set(extracted or [ClusterFactory()])


def language(code: str = "en") -> Language:
    # get_or_create: transactional tests flush the languages the taxonomy migration installs.
    names = {"en": "English", "de": "German", "fr": "French", "it": "Italian", "nl": "Dutch"}
    return Language.objects.get_or_create(code=code, defaults={"name": names.get(code, code)})[0]


def topic(name: str) -> Topic:
    slug = name.lower().replace(" ", "-")
    return Topic.objects.get_or_create(name=name, defaults={"slug": slug})[0]


class ApplicationFactory(factory.django.DjangoModelFactory):
    """An approved application; pass `topics=[...]`, `languages=[...]` (default English)."""

    class Meta:
        model = Application
        skip_postgeneration_save = True

    programme = factory.SubFactory(ProgrammeFactory)
    user = factory.LazyAttribute(
        lambda o: (
            ProfileFactory(
                organisation=OrganisationFactory(clusters=list(o.programme.clusters.all()))
            ).user
        )
    )
    role = Application.Role.MENTEE
    status = Application.Status.APPROVED
    organisation = factory.LazyAttribute(lambda o: o.user.profile.organisation)
    seniority = factory.LazyAttribute(lambda o: 3 if o.role == Application.Role.MENTOR else 1)
    goals = factory.LazyAttribute(lambda o: "" if o.role == Application.Role.MENTOR else "Grow.")

    @factory.post_generation
    def topics(self, create, extracted, **kwargs):
        if create and extracted:
            self.topics.set(extracted)

    @factory.post_generation
    def languages(self, create, extracted, **kwargs):
        if create:
            self.languages.set(extracted if extracted is not None else [language("en")])

    @factory.post_generation
    def sectors(self, create, extracted, **kwargs):
        if create and extracted:
            self.sectors.set(extracted)

    @factory.post_generation
    def avoid(self, create, extracted, **kwargs):
        if create and extracted:
            self.avoid.set(extracted)
