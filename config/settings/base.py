"""Settings shared by every environment, read from environment variables.

With no environment at all this is the embedded default: SQLite in var/, Celery tasks
run in-process, mail written to files under var/mail. Production overrides what must
be explicit (config/settings/production.py).
"""

from pathlib import Path

import environ
from celery.schedules import crontab
from csp.constants import NONCE, NONE, SELF

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
    "csp.middleware.CSPMiddleware",
    "members.middleware.ControlCharacterMiddleware",  # before anything reads the input
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
    "members.middleware.ViewerLanguageMiddleware",
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
    if DATABASES["default"]["ENGINE"].endswith("postgresql"):
        # Pages run short queries. At 50,000 events the planner's estimate for the event
        # list passed jit_above_cost and PostgreSQL spent 0.3–1 s compiling each one.
        DATABASES["default"].setdefault("OPTIONS", {}).setdefault("options", "-c jit=off")
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache ----------------------------------------------------------------------------
# allauth's rate limits live in the cache; production points CACHE_URL at Redis so the
# limits hold across every web process.
CACHES = {"default": env.cache_url("CACHE_URL", default="locmemcache://clusterhub")}
# Event pages, API answers and the member directory are cached, and tagged for conditional
# GETs, under versions that every process must see (members.page_cache, events.fragments,
# members.directory_version): unset, that is on with a shared cache
# (Redis, the production file cache) and off with a per-process one (the in-memory default).
PAGE_CACHE = env.bool("PAGE_CACHE", default=None)

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
# Every door where a password is typed, limited in one place. The counters live in the
# cache (CACHES: Redis in production), shared by every web process. A window is also the
# cool-off: once its oldest attempt is older than the window, the door opens again. The
# admin has no password form of its own (config/urls.py sends it to allauth's login), and
# /me/delete/ asks for the password under the "reauthenticate" limit (members.views).
ACCOUNT_RATE_LIMITS = {
    # Sign-in (staff too): failures per client IP and per address (the account); a
    # success takes its own failure back. 5 wrong passwords lock the account up to 5 minutes.
    "login_failed": "10/m/ip,5/5m/key",
    "login": "30/m/ip",  # every sign-in attempt, right or wrong
    # Signed-in pages that ask for the current password again, per account, so a borrowed
    # session guesses no faster than the sign-in: change password, reauthenticate, delete.
    "change_password": "5/5m/user",
    "reauthenticate": "5/5m/user",
    # Mails and mailed keys (the keys are HMACs, not guessable): per IP, and per address.
    "reset_password": "20/m/ip,5/m/key",
    "reset_password_from_key": "20/m/ip",
    "confirm_email": "1/3m/key",
    "signup": "20/m/ip",
}
# "Per IP" is REMOTE_ADDR unless a reverse proxy in front sets X-Forwarded-For: then say how
# many proxies there are, or every visitor shares the proxy's address and one IP budget.
ALLAUTH_TRUSTED_PROXY_COUNT = env.int("ALLAUTH_TRUSTED_PROXY_COUNT", default=0)
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
    # Re-enqueue outbox rows whose task was lost (killed worker, broker restart): with
    # OUTBOX_REQUEUE_AFTER_SECONDS, a lost message goes out within about 90 s.
    "notifications-outbox-sweep": {
        "task": "notifications.tasks.outbox_sweep_task",
        "schedule": 30.0,
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
    # Invitation campaigns whose fan-out task was lost (no progress for 30 s) go on from
    # their stored cursor.
    "events-campaigns-resume": {
        "task": "events.tasks.campaigns_resume_stalled_task",
        "schedule": 15.0,
    },
    # The registration tallies behind the balance dashboard: +1/−1 rows folded hourly.
    "events-tallies-compact": {
        "task": "events.tasks.tallies_compact_task",
        "schedule": crontab(minute=50),
    },
    # The events API list's version is a sum of change rows (events.list_version);
    # folding them hourly keeps the sum read on every list short.
    "events-list-changes-fold": {
        "task": "events.tasks.event_list_changes_fold_task",
        "schedule": crontab(minute=35),
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
    # Brokerage meeting requests nobody answered in time expire (their held slots free up).
    "brokerage-meetings-expire": {
        "task": "matchmaking.brokerage.tasks.meetings_expire_task",
        "schedule": 5 * 60.0,
    },
    # Live meetings of people who lost their seat on the event (registration cancelled)
    # end: their requests withdrawn or declined, their accepted meetings cancelled.
    "brokerage-meetings-without-seat": {
        "task": "matchmaking.brokerage.tasks.participants_without_seat_release_task",
        "schedule": 5 * 60.0,
    },
    # Published schedules whose agenda mail task was lost (a broker restart) are queued
    # again (BROKERAGE_MAIL_REQUEUE_AFTER_SECONDS after a task last took them up).
    "brokerage-schedule-mail-sweep": {
        "task": "matchmaking.brokerage.tasks.schedule_mail_sweep_task",
        "schedule": 60.0,
    },
}

# --- Outbox ---------------------------------------------------------------------------
# A row still queued this long after it was written (or last re-enqueued) has probably
# lost its task (a broker restart) and is enqueued again; a duplicate task is a no-op.
OUTBOX_REQUEUE_AFTER_SECONDS = env.int("OUTBOX_REQUEUE_AFTER_SECONDS", default=60)
# The same for a row back in the queue after a failed attempt: Celery holds its retry for
# up to the task's retry_backoff_max (600 s), so the sweeper waits longer than that
# rather than hammer a mail server that is refusing.
OUTBOX_RETRY_REQUEUE_AFTER_SECONDS = env.int("OUTBOX_RETRY_REQUEUE_AFTER_SECONDS", default=11 * 60)
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
# A campaign's messages are sent this many at a time over one SMTP connection, one task each.
OUTBOX_SEND_BATCH = env.int("OUTBOX_SEND_BATCH", default=50)
# PostgreSQL: the worker's claim/sent commits do not wait for the disk (two per message).
# A database crash may then send again what was marked sent in its last ~0.6 s; False
# flushes every commit (notifications.services._asynchronous_commit).
OUTBOX_ASYNCHRONOUS_COMMIT = env.bool("OUTBOX_ASYNCHRONOUS_COMMIT", default=True)

# --- I18N / time ----------------------------------------------------------------------
# Each language is complete: every string the project marks is translated (tests/i18n).
# Names are written in their own language, as the switcher shows them.
LANGUAGES = [
    ("en", "English"),
    ("de", "Deutsch"),
    ("fr", "Français"),
    ("es", "Español"),
    ("it", "Italiano"),
    ("ro", "Română"),
]
# The site's default when neither the member's profile nor the browser names one of these.
LANGUAGE_CODE = env.str("LANGUAGE_CODE", default="en")
LOCALE_PATHS = [BASE_DIR / "locale"]
# Dates read as each language writes them; templates and code use only the format names
# (DATE_FORMAT, SHORT_DATETIME_FORMAT, …), never a pattern of their own.
FORMAT_MODULE_PATH = ["config.formats"]
LANGUAGE_COOKIE_SAMESITE = "Lax"
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
# Width × height, read from the image's header before anything is decoded (members/photos.py).
PROFILE_PHOTO_MAX_PIXELS = env.int("PROFILE_PHOTO_MAX_PIXELS", default=40_000_000)
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- API ------------------------------------------------------------------------------
REST_FRAMEWORK = {
    # Token first: DRF answers a missing or wrong credential with the first class's challenge,
    # so API clients get 401 and `WWW-Authenticate: Token`. The session still works for the
    # site's own pages, with Django's CSRF check on writes.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "members.api_auth.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    # Adds the error answers every operation can give (400, 401, 403, 404, 415, 429).
    "DEFAULT_SCHEMA_CLASS": "members.api_schema.AutoSchema",
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "rest_framework.pagination.PageNumberPagination",
    "PAGE_SIZE": 25,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    # `?format=` is the event list's online/on-site filter, not a choice of renderer.
    "URL_FORMAT_OVERRIDE": None,
    # Requests per account (token or session) and per address for anonymous callers and
    # wrong tokens, counted in the shared cache; over the rate is a 429 with Retry-After.
    "DEFAULT_THROTTLE_CLASSES": [
        "members.api_auth.UserThrottle",
        "members.api_auth.AnonThrottle",
    ],
    "DEFAULT_THROTTLE_RATES": {
        "user": env.str("API_THROTTLE_USER_RATE", default="120/min"),
        "anon": env.str("API_THROTTLE_ANON_RATE", default="30/min"),
    },
    # The same count of trusted proxies as the login limits: "per address" is the client's.
    "NUM_PROXIES": ALLAUTH_TRUSTED_PROXY_COUNT,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Clusterhub API",
    "DESCRIPTION": (
        "Events, registrations, the member directory and brokerage days (a participant's "
        "agenda and meeting requests) of a Clusterhub site. "
        "Authenticate with the header `Authorization: Token <key>` (or the site's session, "
        "with its CSRF token on writes); without it, or with a wrong key, the answer is 401. "
        "Requests are limited per token, and per address for anonymous callers: over the "
        "rate the answer is 429 with `Retry-After` in seconds."
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
        "MeetingStatusEnum": "matchmaking.brokerage.models.Meeting.Status",
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

# --- Content-Security-Policy ------------------------------------------------------------
# Every page says where its code may come from: scripts and styles only from our own
# static files, or inline with this response's nonce ({{ request.csp_nonce }}); no inline
# event handlers, style="" attributes, javascript: URLs or eval. A script slipped past the
# Markdown cleaner does not run. Images are our own (profile photos); QR codes and charts
# are inline SVG. CSP_REPORT_ONLY=true sends the same policy as
# Content-Security-Policy-Report-Only (browsers report, nothing is blocked), to try it on
# a site first; CSP_REPORT_URI is where browsers send their reports.
_CSP = {
    "DIRECTIVES": {
        "default-src": [SELF],
        "script-src": [SELF, NONCE],
        "style-src": [SELF, NONCE],
        "img-src": [SELF],
        "font-src": [SELF],
        "connect-src": [SELF],
        "object-src": [NONE],
        "base-uri": [NONE],
        "form-action": [SELF],
        "frame-ancestors": [NONE],
        "report-uri": env.str("CSP_REPORT_URI", default="") or None,
    }
}
if env.bool("CSP_REPORT_ONLY", default=False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP

# --- Imports --------------------------------------------------------------------------
# Uploaded files (attendance lists, CRM exports) above either limit are refused by the
# form before any work; rows are the rows a spreadsheet shows, the header included.
IMPORT_MAX_BYTES = env.int("IMPORT_MAX_BYTES", default=10 * 1024 * 1024)
IMPORT_MAX_ROWS = env.int("IMPORT_MAX_ROWS", default=50_000)
# Imports run as Celery tasks (`members.imports`). A job queued or running this long
# without a sign of life lost its worker: it is marked stalled and can be run again.
# Longer than CELERY_TASK_TIME_LIMIT, so a live worker is never overtaken.
IMPORT_JOB_STALLED_AFTER_SECONDS = env.int(
    "IMPORT_JOB_STALLED_AFTER_SECONDS", default=CELERY_TASK_TIME_LIMIT + 5 * 60
)
# Jobs hold uploaded files and their results (people's names and addresses): they are
# deleted this many days after they were started.
IMPORT_JOB_RETENTION_DAYS = env.int("IMPORT_JOB_RETENTION_DAYS", default=7)
# Import jobs whose task was lost are queued again; stalled ones marked; old ones deleted.
CELERY_BEAT_SCHEDULE["members-import-jobs-sweep"] = {
    "task": "members.tasks.import_jobs_sweep_task",
    "schedule": 60.0,
}

# --- Brokerage days --------------------------------------------------------------------
# How many meeting requests one participant may send in any hour (a request mails its
# recipient, so it is counted like a contact message).
BROKERAGE_REQUESTS_PER_HOUR = env.int("BROKERAGE_REQUESTS_PER_HOUR", default=20)

# --- Member-to-member contact ---------------------------------------------------------
# How many messages one member may send other members through the site (members.contact):
# at most this many in any hour and in any 24 hours.
CONTACT_MESSAGES_PER_HOUR = env.int("CONTACT_MESSAGES_PER_HOUR", default=5)
CONTACT_MESSAGES_PER_DAY = env.int("CONTACT_MESSAGES_PER_DAY", default=20)
# The site keeps a copy of each message for reports; its subject and text are deleted this
# many days after sending (a message with an open report keeps them until it is handled).
CONTACT_MESSAGE_RETENTION_DAYS = env.int("CONTACT_MESSAGE_RETENTION_DAYS", default=90)
# The member directory's version is a sum of change rows (members.directory_version);
# folding them hourly keeps the sum read on every directory page short.
CELERY_BEAT_SCHEDULE["members-directory-changes-fold"] = {
    "task": "members.tasks.directory_changes_fold_task",
    "schedule": crontab(minute=25),
}
CELERY_BEAT_SCHEDULE["members-contact-purge"] = {
    "task": "members.tasks.contact_messages_purge_task",
    "schedule": crontab(hour=3, minute=50),
}
