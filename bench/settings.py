"""Settings of the benchmark runs: the project's base settings plus one minimal view.

DEBUG is off (as in production) and static files need no collected manifest.
"""

from config.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
