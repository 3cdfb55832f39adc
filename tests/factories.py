"""factory_boy factories for the members app.

Topics, sectors and languages already exist (migration 0002 installs the curated
taxonomy), so their factories get-or-create by their natural key.
"""

import itertools

import factory
from allauth.account.models import EmailAddress
from django.utils import timezone
from django.utils.text import slugify

from members.models import (
    Affiliation,
    Cluster,
    ClusterOrganiser,
    GenderIdentity,
    Language,
    Organisation,
    Profile,
    Sector,
    Topic,
    User,
)

PASSWORD = "pw-Secret-123!"


class UserFactory(factory.django.DjangoModelFactory):
    """An active account with a usable password and a verified primary address."""

    class Meta:
        model = User
        skip_postgeneration_save = True

    email = factory.Sequence(lambda n: f"member{n}@example.org")
    password = factory.django.Password(PASSWORD)
    is_active = True

    @factory.post_generation
    def email_address(self, create, extracted, **kwargs):
        """Real accounts carry allauth's address record; pass `email_address=False` to skip."""
        if create and extracted is not False:
            EmailAddress.objects.get_or_create(
                user=self, email=self.email, defaults={"primary": True, "verified": True}
            )


class StaffFactory(UserFactory):
    is_staff = True
    is_superuser = True


class TopicFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Topic
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Test topic {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))


class SectorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Sector
        django_get_or_create = ("slug",)

    name = factory.Sequence(lambda n: f"Test sector {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))


class LanguageFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Language
        django_get_or_create = ("code",)

    code = "en"
    name = "English"


class ClusterFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Cluster

    name = factory.Sequence(lambda n: f"Cluster {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))
    country = "AT"


class OrganisationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organisation
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Organisation {n}")
    slug = factory.LazyAttribute(lambda o: slugify(o.name))
    kind = Organisation.Kind.SME
    country = "AT"

    @factory.post_generation
    def clusters(self, create, extracted, **kwargs):
        if create and extracted:
            self.clusters.set(extracted)

    @factory.post_generation
    def sectors(self, create, extracted, **kwargs):
        if create and extracted:
            self.sectors.set(extracted)


class ProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Profile
        skip_postgeneration_save = True

    user = factory.SubFactory(UserFactory)
    display_name = factory.Sequence(lambda n: f"Member Person {n}")
    organisation = None
    visibility = Profile.Visibility.CLUSTER

    @factory.post_generation
    def affiliation(self, create, extracted, **kwargs):
        """A profile with an organisation stands for a confirmed affiliation, as after
        `members.membership` confirmed it; pass `affiliation=False` for a bare profile."""
        if create and self.organisation_id and extracted is not False:
            Affiliation.objects.get_or_create(
                user=self.user,
                status=Affiliation.Status.CONFIRMED,
                defaults={
                    "organisation_id": self.organisation_id,
                    "confirmed_via": Affiliation.Via.ORGANISER,
                    "decided_at": timezone.now(),
                },
            )

    @factory.post_generation
    def expertise(self, create, extracted, **kwargs):
        if create and extracted:
            self.expertise.set(extracted)

    @factory.post_generation
    def interests(self, create, extracted, **kwargs):
        if create and extracted:
            self.interests.set(extracted)

    @factory.post_generation
    def sectors(self, create, extracted, **kwargs):
        if create and extracted:
            self.sectors.set(extracted)

    @factory.post_generation
    def languages(self, create, extracted, **kwargs):
        if create and extracted:
            self.languages.set(extracted)


class ClusterOrganiserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ClusterOrganiser

    cluster = factory.SubFactory(ClusterFactory)
    user = factory.SubFactory(UserFactory)


class GenderIdentityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = GenderIdentity

    user = factory.SubFactory(UserFactory)
    gender = GenderIdentity.Gender.UNDISCLOSED
    self_description = ""
    statistics_consent = True


_crowd_emails = itertools.count()


def crowd(
    count: int, gender: str | None = None, *, consent: bool = True, stage: bool | None = None
) -> list[User]:
    """`count` people written in bulk (fast for statistics tests); `gender=None`: they
    never filled in the gender form. `stage` (consent to count on stage) follows
    `consent` unless given."""
    users = User.objects.bulk_create(
        [User(email=f"crowd{next(_crowd_emails)}@example.org") for _ in range(count)]
    )
    if gender is not None:
        GenderIdentity.objects.bulk_create(
            [
                GenderIdentity(
                    user=u,
                    gender=gender,
                    statistics_consent=consent,
                    stage_consent=consent if stage is None else stage,
                )
                for u in users
            ]
        )
    return users
