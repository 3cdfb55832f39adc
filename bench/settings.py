"""Settings of the benchmark runs: the project's base settings plus one minimal view.

DEBUG is off (as in production) and static files need no collected manifest.
"""

import os

from config.settings.base import *  # noqa: F403

ROOT_URLCONF = "bench.urls"
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}

# The seat lock's hold times (events.services.capacity_lock), when a benchmark asks for them.
if LOCK_LOG := os.environ.get("BENCH_LOCK_LOG"):
    LOGGING["handlers"]["lock_file"] = {  # noqa: F405
        "class": "logging.FileHandler",
        "filename": LOCK_LOG,
        "formatter": "plain",
    }
    LOGGING["loggers"]["events.capacity_lock"] = {  # noqa: F405
        "handlers": ["lock_file"],
        "level": "DEBUG",
        "propagate": False,
    }
