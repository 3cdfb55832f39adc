"""Circle events made before their "Online" was worded per reader stored the word itself,
in the organiser's language; they now store no platform, so every reader sees "Online" in
their own language (and nobody sees "Online · En ligne")."""

from django.db import migrations

# "Online" in each of the site's languages, as the earlier code stored it.
STORED_WORDS = ["Online", "En ligne", "En línea"]


def forget_the_stored_word(apps, schema_editor):
    Circle = apps.get_model("matchmaking", "Circle")
    Event = apps.get_model("events", "Event")
    Event.objects.filter(
        pk__in=Circle.objects.exclude(event=None).values("event_id"),
        online_platform__in=STORED_WORDS,
    ).update(online_platform="")


class Migration(migrations.Migration):
    dependencies = [
        ("matchmaking", "0005_verbose_names"),
        ("events", "0009_verbose_names"),
    ]

    operations = [migrations.RunPython(forget_the_stored_word, migrations.RunPython.noop)]
