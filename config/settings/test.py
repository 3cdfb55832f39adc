"""Test settings: fast hashing, mail kept in memory, tasks eager unless a broker is set."""

from config.settings.base import *  # noqa: F403
from config.settings.base import env

DEBUG = False
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = env.str(
    "TEST_EMAIL_BACKEND", default="django.core.mail.backends.locmem.EmailBackend"
)
STORAGES["staticfiles"] = {  # noqa: F405
    "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
}
MEDIA_ROOT = VAR_DIR / "test-media"  # noqa: F405
# The suite serves pages in its own process, so its in-memory cache is shared by all it
# runs; the integration run points CACHE_URL at Redis for its worker processes.
PAGE_CACHE = True
