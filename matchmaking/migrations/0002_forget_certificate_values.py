"""Runs made before the shown scores left out the preferred mentor gender stored the
solver's objective value and LP dual bound, which include it. New runs store 0 for both
(the certificate shows only that the gap is 0); old runs are brought in line."""

from django.db import migrations


def forget(apps, schema_editor):
    apps.get_model("matchmaking", "MatchingRun").objects.update(value=0, dual_bound=0)


class Migration(migrations.Migration):
    dependencies = [("matchmaking", "0001_initial")]

    operations = [migrations.RunPython(forget, migrations.RunPython.noop)]
