from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("events", "0009_verbose_names"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="event",
            index=models.Index(fields=["ends_at"], name="event_ends_at_idx"),
        ),
    ]
