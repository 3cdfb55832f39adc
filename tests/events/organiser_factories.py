"""The organiser tests' defaults on top of the shared event factories: a full-day event,
talks an hour in, and registrations of members with a profile. Rows are written directly,
so a test can set up any state (even one the services would refuse, such as a confirmed
seat at an event that is already over)."""

from datetime import timedelta

import factory

from tests.events import factories as shared
from tests.factories import ProfileFactory, UserFactory


class EventFactory(shared.EventFactory):
    title = factory.Sequence(lambda n: f"Organised event {n}")
    slug = factory.Sequence(lambda n: f"organised-event-{n}")
    summary = ""
    ends_at = factory.LazyAttribute(lambda o: o.starts_at + timedelta(hours=8))


class SessionFactory(shared.SessionFactory):
    event = factory.SubFactory(EventFactory)
    title = factory.Sequence(lambda n: f"Talk {n}")
    starts_at = factory.LazyAttribute(lambda o: o.event.starts_at + timedelta(hours=1))


class RegistrationFactory(shared.RegistrationFactory):
    event = factory.SubFactory(EventFactory)
    user = factory.LazyFunction(lambda: ProfileFactory(user=UserFactory()).user)
