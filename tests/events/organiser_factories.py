"""Factories for the organiser tests: events, sessions and registrations made directly,
so a test can set up any state (even one the services would refuse today, such as a
confirmed seat at an event that is already over)."""

from datetime import timedelta

import factory
from django.utils import timezone

from events.models import Event, Registration, Session
from tests.factories import ProfileFactory, UserFactory


class EventFactory(factory.django.DjangoModelFactory):
    """A published members-only webinar in Vienna a week from now; pass `clusters=[...]`."""

    class Meta:
        model = Event
        skip_postgeneration_save = True

    kind = Event.Kind.WEBINAR
    title = factory.Sequence(lambda n: f"Organised event {n}")
    slug = factory.Sequence(lambda n: f"organised-event-{n}")
    timezone = "Europe/Vienna"
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(hours=8))
    status = Event.Status.PUBLISHED
    audience = Event.Audience.MEMBERS

    @factory.post_generation
    def clusters(self, create, extracted, **kwargs):
        if create and extracted:
            self.clusters.set(extracted)


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Session

    event = factory.SubFactory(EventFactory)
    title = factory.Sequence(lambda n: f"Talk {n}")
    starts_at = factory.LazyAttribute(lambda o: o.event.starts_at + timedelta(hours=1))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(minutes=45))


class RegistrationFactory(factory.django.DjangoModelFactory):
    """A confirmed registration of a fresh member (with a profile) for the event."""

    class Meta:
        model = Registration

    event = factory.SubFactory(EventFactory)
    user = factory.LazyFunction(lambda: ProfileFactory(user=UserFactory()).user)
    status = Registration.Status.CONFIRMED
