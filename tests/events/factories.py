"""factory_boy factories for events: a published members-only webinar and its parts."""

from datetime import timedelta

import factory
from django.utils import timezone

from events.models import Event, Registration, Session, StageRole
from tests.factories import UserFactory


class EventFactory(factory.django.DjangoModelFactory):
    """A published members-only webinar a week from now; pass `clusters=[...]`."""

    class Meta:
        model = Event
        skip_postgeneration_save = True

    kind = Event.Kind.WEBINAR
    title = factory.Sequence(lambda n: f"Event {n}")
    slug = factory.Sequence(lambda n: f"event-{n}")
    summary = "A useful hour."
    timezone = "Europe/Vienna"
    starts_at = factory.LazyFunction(lambda: timezone.now() + timedelta(days=7))
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(hours=2))
    status = Event.Status.PUBLISHED
    audience = Event.Audience.MEMBERS

    @factory.post_generation
    def clusters(self, create, extracted, **kwargs):
        if create and extracted:
            self.clusters.set(extracted)

    @factory.post_generation
    def topics(self, create, extracted, **kwargs):
        if create and extracted:
            self.topics.set(extracted)


class SessionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Session

    event = factory.SubFactory(EventFactory)
    kind = Session.Kind.TALK
    title = factory.Sequence(lambda n: f"Session {n}")
    starts_at = factory.LazyAttribute(lambda o: o.event.starts_at)
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(minutes=45))


class StageRoleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StageRole

    event = factory.SubFactory(EventFactory)
    role = StageRole.Role.SPEAKER
    guest_name = factory.Sequence(lambda n: f"Guest Speaker {n}")
    guest_organisation = "Institute of Things"


class RegistrationFactory(factory.django.DjangoModelFactory):
    """A registration written directly (no capacity check): for arranging a page's state."""

    class Meta:
        model = Registration

    event = factory.SubFactory(EventFactory)
    user = factory.SubFactory(UserFactory)
    status = Registration.Status.CONFIRMED


def register(
    event: Event, users: list, status: str = Registration.Status.CONFIRMED, session=None
) -> None:
    """Registrations of `users` written in bulk (fast for statistics tests)."""
    waitlisted = status == Registration.Status.WAITLISTED
    Registration.objects.bulk_create(
        [
            Registration(
                event=event,
                session=session,
                user=user,
                status=status,
                waitlist_position=i + 1 if waitlisted else None,
            )
            for i, user in enumerate(users)
        ]
    )
