from django.db import migrations

from members.taxonomy import LANGUAGES, SECTORS, TOPICS


def install(apps, schema_editor):
    Topic = apps.get_model("members", "Topic")
    Sector = apps.get_model("members", "Sector")
    Language = apps.get_model("members", "Language")
    for slug, name in TOPICS:
        Topic.objects.get_or_create(slug=slug, defaults={"name": name})
    for slug, name in SECTORS:
        Sector.objects.get_or_create(slug=slug, defaults={"name": name})
    for code, name in LANGUAGES:
        Language.objects.get_or_create(code=code, defaults={"name": name})


class Migration(migrations.Migration):
    dependencies = [("members", "0001_initial")]

    operations = [migrations.RunPython(install, migrations.RunPython.noop)]
