"""What the browser journeys need beyond the demo network, added through the project's services.

Run by tests/browser/conftest.py in the server's environment, after `seed_demo`, as
`python tests/browser/stage_data.py`; prints one JSON object that the journeys read:

- a small public webinar on one topic, all seats but one taken, for the newcomer to find,
  take the last seat of and give it back (journey 1);
- the member who queues for that seat after the newcomer, whose site and mail are French;
- two members of the textiles cluster who have not applied to its open circles programme:
  one applies as mentee, the other as mentor (journey 3).
"""

import json
import os
import sys
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parents[2]
WEBINAR_TITLE = "3D-Printed Spare Parts: An Open Q&A"
WEBINAR_TOPIC = "additive-manufacturing"
WEBINAR_CAPACITY = 12
ORGANISER = "organiser@mechatronics.example"
FRENCH_MEMBER = "anne.germain@roubaix-tt.example"
PROGRAMME = "digital-skills-circles-2027"


def stage() -> dict:
    from django.db.models import Exists, OuterRef
    from django.utils import timezone

    from events import authoring, services
    from events.models import Event
    from matchmaking.models import Application, Programme
    from members import services as member_services
    from members.demo import DEMO_PASSWORD
    from members.models import Cluster, Language, Profile, Topic, User

    organiser = User.objects.get(email=ORGANISER)
    zone = "Europe/Vienna"
    day = timezone.now().astimezone(UTC).date() + timedelta(days=3)
    starts = datetime.combine(day, time(15, 0), tzinfo=ZoneInfo(zone))
    topic = Topic.objects.get(slug=WEBINAR_TOPIC)
    webinar = authoring.event_create(
        by=organiser,
        fields={
            "kind": Event.Kind.WEBINAR,
            "title": WEBINAR_TITLE,
            "summary": "Which spare parts can a plant print itself, and which it should not.",
            "description": "Bring your questions: materials, certification, cost per part.",
            "timezone": zone,
            "starts_at": starts,
            "ends_at": starts + timedelta(hours=1),
            "online_platform": "Jitsi Meet",
            "online_url": "https://video.example.org/clusterhub/spare-parts-qa",
            "audience": Event.Audience.PUBLIC,
            "capacity": WEBINAR_CAPACITY,
        },
        clusters=[Cluster.objects.get(slug="mechatronics")],
        topics=[topic],
    )
    authoring.event_publish(event=webinar, by=organiser)
    french = User.objects.get(email=FRENCH_MEMBER)
    early_birds = (
        User.objects.filter(profile__isnull=False, is_staff=False)
        .exclude(pk__in=[organiser.pk, french.pk])
        .order_by("email")[: WEBINAR_CAPACITY - 1]
    )
    for user in early_birds:
        services.event_register(event=webinar, user=user)
    member_services.profile_set_language(user=french, language="fr")

    programme = Programme.objects.get(slug=PROGRAMME)
    applied = Application.objects.filter(programme=programme, user=OuterRef("user"))
    candidates = list(
        Profile.objects.filter(
            organisation__clusters__in=programme.clusters.all(),
            user__is_staff=False,
            user__organiser_roles__isnull=True,
        )
        .exclude(user=french)
        .exclude(Exists(applied))
        .select_related("user")
        .order_by("user__email")
        .distinct()[:2]
    )
    mentee, mentor = candidates
    return {
        "password": DEMO_PASSWORD,
        "organiser": ORGANISER,
        "webinar": {
            "slug": webinar.slug,
            "title": webinar.title,
            "topic": topic.slug,
            "capacity": WEBINAR_CAPACITY,
        },
        "french_member": {"email": french.email, "name": french.profile.display_name},
        "programme": {
            "slug": programme.slug,
            "title": programme.title,
            "starts_on": programme.starts_on.isoformat(),
        },
        # Checkbox values (primary keys): their labels are translated for the reader.
        "topic_ids": dict(Topic.objects.values_list("slug", "pk")),
        "language_ids": dict(Language.objects.values_list("code", "pk")),
        "mentee": {"email": mentee.user.email, "name": mentee.display_name},
        "mentor": {"email": mentor.user.email, "name": mentor.display_name},
        "textiles_organiser": "organiser@textiles.example",
    }


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import django

    django.setup()
    json.dump(stage(), sys.stdout)
