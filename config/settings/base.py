"""Settings shared by every environment, read from environment variables.

With no environment at all this is the embedded default: SQLite in var/, Celery tasks
run in-process, mail written to files under var/mail. Production overrides what must
be explicit (config/settings/production.py).
"""

from pathlib import Path

import environ
from celery.schedules import crontab

BASE_DIR = Path(__file__).resolve().parent.parent.parent
VAR_DIR = Path(environ.Env().str("CLUSTERHUB_VAR_DIR", default=str(BASE_DIR / "var")))

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

SECRET_KEY = env.str("SECRET_KEY", default="insecure-demo-key-change-me-in-production")
DEBUG = env.bool("DEBUG", default=False)
ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
SITE_NAME = env.str("SITE_NAME", default="Clusterhub")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "allauth",
    "allauth.account",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "django_filters",
    "django_countries",
    "members",
    "events",
    "matchmaking",
    "insights",
    "notifications",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "allauth.account.middleware.AccountMiddleware",
    "members.middleware.ViewerTimezoneMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "members.context_processors.site",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------
# SQLite by default. WAL lets readers work while one writer writes; IMMEDIATE transactions
# take the write lock at BEGIN, so concurrent writers queue (up to the timeout) instead of
# failing with "database is locked" half-way through a transaction.
DATABASES = {
    "default": env.db_url("DATABASE_URL", default=f"sqlite:///{VAR_DIR / 'clusterhub.sqlite3'}")
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        {
            "transaction_mode": "IMMEDIATE",
            "timeout": 20,
            "init_command": (
                "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;"
            ),
        }
    )
else:
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------
# allauth's rate limits live in the cache; production points CACHE_URL at Redis so the
# limits hold across every web process.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://clusterhub")}

# --- Accounts -------------------------------------------------------------------------
AUTH_USER_MODEL = "members.User"
AUTHENTICATION_BACKENDS = [
    "django.contrib.auth.backends.ModelBackend",
    "allauth.account.auth_backends.AuthenticationBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "account_login"
LOGIN_REDIRECT_URL = "home"
ACCOUNT_ADAPTER = "members.adapters.AccountAdapter"
ACCOUNT_LOGIN_METHODS = {"email"}
ACCOUNT_SIGNUP_FIELDS = ["email*", "password1*", "password2*"]
ACCOUNT_SIGNUP_FORM_CLASS = "members.forms.SignupExtraForm"
ACCOUNT_USER_MODEL_USERNAME_FIELD = None
ACCOUNT_UNIQUE_EMAIL = True
ACCOUNT_EMAIL_VERIFICATION = env.str("ACCOUNT_EMAIL_VERIFICATION", default="optional")
ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED = False
ACCOUNT_CONFIRM_EMAIL_ON_GET = False
ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION = True
ACCOUNT_LOGOUT_REDIRECT_URL = "home"
ACCOUNT_PRESERVE_USERNAME_CASING = False
ACCOUNT_RATE_LIMITS = {
    # allauth's defaults, stated so operators see them in one place.
    "change_password": "5/m/user",
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "signup": "20/m/ip",
    "login": "30/m/ip",
    "login_failed": "10/m/ip,5/5m/key",
    "confirm_email": "1/3m/key",
}
ACCOUNT_EMAIL_SUBJECT_PREFIX = f"[{SITE_NAME}] "

# --- Mail -----------------------------------------------------------------------------
# EMAIL_URL examples: smtp+tls://user:pass@mail.example.org:587, consolemail://,
# filemail:///path. With none set, messages are written as files to var/mail/.
if env.str("EMAIL_URL", default=""):
    vars().update(env.email_url("EMAIL_URL"))
else:
    EMAIL_BACKEND = "django.core.mail.backends.filebased.EmailBackend"
    EMAIL_FILE_PATH = str(VAR_DIR / "mail")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=f"{SITE_NAME} <noreply@localhost>")
SERVER_EMAIL = env.str("SERVER_EMAIL", default=DEFAULT_FROM_EMAIL)
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)

# --- Celery ---------------------------------------------------------------------------
# No broker configured: run tasks in-process, so one machine needs no Redis.
CELERY_TASK_ALWAYS_EAGER = not env.str("CELERY_BROKER_URL", default="")
# Celery still acquires a producer in eager mode; an in-memory one needs no server.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="") or "memory://localhost/"
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# A task not acknowledged within this time is redelivered by Redis; it must exceed
# every countdown/ETA used by the project. The longest is the outbox retry backoff
# (retry_backoff_max=600 s in notifications/tasks.py), far below these 6 hours.
# No result backend is configured, so there is no second visibility timeout to match.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": 6 * 60 * 60}
CELERY_TIMEZONE = "UTC"
CELERY_TASK_TIME_LIMIT = 10 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 9 * 60
CELERY_BEAT_SCHEDULE = {
    # Re-enqueue outbox rows whose task was lost (killed worker, broker restart).
    "notifications-outbox-sweep": {
        "task": "notifications.tasks.outbox_sweep_task",
        "schedule": 60.0,
    },
    # Sent mail loses its bodies and attachments after OUTBOX_BODY_RETENTION_DAYS.
    "notifications-outbox-purge-bodies": {
        "task": "notifications.tasks.outbox_purge_bodies_task",
        "schedule": crontab(hour=3, minute=40),
    },
    # Confirmed people nobody checked in become no-shows once an event has ended.
    "events-attendance-close": {
        "task": "events.tasks.attendance_close_task",
        "schedule": crontab(minute=15),
    },
    # Reminders before events; `events.reminders` reads this interval (late = 2 sweeps).
    "events-reminders": {
        "task": "events.tasks.reminders_send_due_task",
        "schedule": 5 * 60.0,
    },
    # Follow-ups after events, once attendance_close (minute 15) has marked the no-shows.
    "events-followups": {
        "task": "events.tasks.followups_send_due_task",
        "schedule": crontab(minute=45),
    },
    # Invitation campaigns whose fan-out task was lost start again (idempotently).
    "events-campaigns-resume": {
        "task": "events.tasks.campaigns_resume_stalled_task",
        "schedule": 10 * 60.0,
    },
    # The registration tallies behind the balance dashboard: +1/−1 rows folded hourly.
    "events-tallies-compact": {
        "task": "events.tasks.tallies_compact_task",
        "schedule": crontab(minute=50),
    },
    # Gender figures of ended events, quarters and programmes: released once, when due.
    "insights-releases-draw": {
        "task": "insights.tasks.releases_draw_due_task",
        "schedule": crontab(minute=55),
    },
    # Mentoring proposals nobody answered in time are declined (their places free up).
    "matchmaking-expire": {
        "task": "matchmaking.tasks.matches_expire_overdue_task",
        "schedule": crontab(minute=30),
    },
    # Pairs who have not logged a meeting for the programme's nudge time get a reminder.
    "matchmaking-nudge": {
        "task": "matchmaking.tasks.matches_nudge_due_task",
        "schedule": crontab(hour=8, minute=0),
    },
}

# --- Outbox ---------------------------------------------------------------------------
# A row still queued after this long has lost its task and is enqueued again.
OUTBOX_REQUEUE_AFTER_SECONDS = env.int("OUTBOX_REQUEUE_AFTER_SECONDS", default=5 * 60)
# A row "sending" this long belongs to a dead worker; longer than CELERY_TASK_TIME_LIMIT,
# so a live worker is never overtaken.
OUTBOX_SENDING_STALE_AFTER_SECONDS = env.int(
    "OUTBOX_SENDING_STALE_AFTER_SECONDS", default=CELERY_TASK_TIME_LIMIT + 5 * 60
)
# Undelivered after this long since it was queued: marked failed, "gave up after max age".
OUTBOX_MAX_AGE_SECONDS = env.int("OUTBOX_MAX_AGE_SECONDS", default=2 * 24 * 60 * 60)
# Sent messages keep their bodies, calendar parts and attachments this many days (for
# support questions); then only who got what, when, and its subject remain.
OUTBOX_BODY_RETENTION_DAYS = env.int("OUTBOX_BODY_RETENTION_DAYS", default=30)

# --- I18N / time ----------------------------------------------------------------------
LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English")]
TIME_ZONE = env.str("TIME_ZONE", default="Europe/Brussels")
USE_I18N = True
USE_TZ = True

# --- Static and media -----------------------------------------------------------------
STATIC_URL = "static/"
STATIC_ROOT = Path(env.str("STATIC_ROOT", default=str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env.str("MEDIA_ROOT", default=str(VAR_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
PROFILE_PHOTO_MAX_BYTES = env.int("PROFILE_PHOTO_MAX_BYTES", default=2 * 1024 * 1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Session first: anonymous requests get 403 rather than a token challenge.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Clusterhub API",
    "DESCRIPTION": (
        "Events, registrations and the member directory of a Clusterhub site. "
        "Authenticate with a session or with the header `Authorization: Token <key>`."
    ),
    "VERSION": "1",
    # The schema is served on its own; the docs are DRF's browsable API, no CDN assets.
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    "ENUM_NAME_OVERRIDES": {
        "EventKindEnum": "events.models.Event.Kind",
        "EventStatusEnum": "events.models.Event.Status",
        "SessionKindEnum": "events.models.Session.Kind",
        "RegistrationStatusEnum": "events.models.Registration.Status",
        "OrganisationKindEnum": "members.models.Organisation.Kind",
    },
}

# --- Security defaults (production tightens them) ---------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.db.backends": {"level": "WARNING"}},
}

# --- Privacy --------------------------------------------------------------------------
# Statistics never show a group of fewer than this many people.
PRIVACY_MIN_GROUP_SIZE = env.int("PRIVACY_MIN_GROUP_SIZE", default=5)
# Gender figures are releases with discrete Gaussian noise of this σ (members.privacy
# states what it guarantees), drawn once per event this long after it ends.
PRIVACY_NOISE_SIGMA = env.float("PRIVACY_NOISE_SIGMA", default=3.3)
PRIVACY_RELEASE_AFTER_HOURS = env.int("PRIVACY_RELEASE_AFTER_HOURS", default=48)

# --- Events ---------------------------------------------------------------------------
# How long a registration waits for the capacity lock before answering "try again".
EVENTS_LOCK_TIMEOUT_MS = env.int("EVENTS_LOCK_TIMEOUT_MS", default=5000)

# --- Calendar replies -------------------------------------------------------------------
# Replies to invitations (Accept/Decline in Outlook, Gmail, Apple Calendar) go to
# rsvp+<signed token>@CALENDAR_REPLY_DOMAIN; the mail server for that domain delivers them
# over LMTP to `manage.py receive_calendar_replies` (events.replies). Empty: replies off.
CALENDAR_REPLY_DOMAIN = env.str("CALENDAR_REPLY_DOMAIN", default="")
CALENDAR_REPLY_LMTP_HOST = env.str("CALENDAR_REPLY_LMTP_HOST", default="127.0.0.1")
# Not 8025: docker-compose.yml publishes Mailpit's web UI there.
CALENDAR_REPLY_LMTP_PORT = env.int("CALENDAR_REPLY_LMTP_PORT", default=8024)
