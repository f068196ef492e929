"""Siyu CRM settings: one file, every value from the environment.

Local use needs nothing set: SQLite in var/ and a Celery broker on the filesystem. Production sets
DJANGO_ENV=production plus SECRET_KEY, ALLOWED_HOSTS, DATABASE_URL and REDIS_URL (see docs/deploy.md).
"""

import os
import sys
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(os.environ.get("SIYU_VAR_DIR", BASE_DIR / "var"))


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None:
        raise ImproperlyConfigured(f"The environment variable {name} must be set.")
    return value


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    if value.lower() in {"1", "true", "yes", "on"}:
        return True
    if value.lower() in {"0", "false", "no", "off", ""}:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), not {value!r}.")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}.") from None


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


PRODUCTION = env_str("DJANGO_ENV", "development") == "production"
# Under pytest: an in-process cache and Celery tasks run eagerly (tests that need a real worker say so).
TESTING = env_bool("SIYU_TESTING", "pytest" in sys.modules)

if PRODUCTION:
    SECRET_KEY = env_str("SECRET_KEY")
    DEBUG = False
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS")
    if not ALLOWED_HOSTS:
        raise ImproperlyConfigured("ALLOWED_HOSTS must name the site's host names in production.")
else:
    SECRET_KEY = env_str("SECRET_KEY", "insecure-local-development-key-never-used-in-production")
    DEBUG = env_bool("DEBUG", True)
    ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", "127.0.0.1,localhost,[::1]")

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "taggit",
    "django_htmx",
    "django_celery_beat",
    "axes",
    "crm",
    "campaigns",
    "moments",
    "referrals",
    "wecom",
    "reports",
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
    "django_htmx.middleware.HtmxMiddleware",
    "crm.middleware.WorkspaceMiddleware",
    # Last, as django-axes asks: it turns a lockout into the 429 page.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "crm.urls"
WSGI_APPLICATION = "crm.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "crm.context_processors.workspace",
            ],
        },
    },
]

# Database: DATABASE_URL (postgres://user@host:port/name or sqlite:////abs/path), else SQLite in var/.
DATABASES = {
    "default": dj_database_url.parse(
        env_str("DATABASE_URL") if PRODUCTION else os.environ.get("DATABASE_URL") or f"sqlite:///{VAR_DIR / 'siyu.sqlite3'}",
        conn_max_age=env_int("DB_CONN_MAX_AGE", 60),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The web server and the Celery worker write to the same file: WAL lets readers go on while one writes,
    # and IMMEDIATE transactions wait for the lock instead of failing half way with "database is locked".
    DATABASES["default"]["CONN_MAX_AGE"] = 0
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 30,
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# An index's INCLUDE columns (order_ws_placed) serve index-only reads on PostgreSQL; SQLite builds the same index
# without them, which is all this warning says.
SILENCED_SYSTEM_CHECKS = ["models.W040"]

# Production needs Redis: the filesystem broker and file cache work only on one machine.
REDIS_URL = env_str("REDIS_URL") if PRODUCTION else os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
if TESTING:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
    # Hashing a password a million times per test user would dominate the suite's run time.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "crm:contact_list"
LOGOUT_REDIRECT_URL = "login"

# Sign-in throttling (django-axes): five failures for one username from one address lock it for 15 minutes.
AXES_FAILURE_LIMIT = env_int("AXES_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = 0.25  # hours
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_IPWARE_PROXY_COUNT = env_int("AXES_PROXY_COUNT", 0)

LANGUAGE_CODE = "zh-hans"
LANGUAGES = [("zh-hans", "简体中文"), ("en", "English")]
LOCALE_PATHS = [BASE_DIR / "crm" / "locale"]
TIME_ZONE = "Asia/Shanghai"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
# Production collects static files into STATIC_ROOT for whitenoise; local use serves them from their folders.
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles"))) if PRODUCTION else None
WHITENOISE_USE_FINDERS = not PRODUCTION
MEDIA_URL = "media/"
MEDIA_ROOT = Path(os.environ.get("MEDIA_ROOT", VAR_DIR / "media"))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "whitenoise.storage.CompressedManifestStaticFilesStorage"
            if PRODUCTION
            else "django.contrib.staticfiles.storage.StaticFilesStorage"
        )
    },
}
# Uploads above this stay on disk while Django reads them, never in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = 12 * 1024 * 1024

# Celery: one configuration, read by crm/celery.py with the CELERY_ namespace.
if REDIS_URL:
    CELERY_BROKER_URL = REDIS_URL
    # How long a task taken by a worker that then died waits in Redis before another worker gets it, and how often
    # the workers look for such tasks (kombu: every unacked_restore_interval × unacked_restore_throttle seconds).
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT", 3600),
        "unacked_restore_interval": env_int("CELERY_LOST_TASKS_CHECK_SECONDS", 100),
        "unacked_restore_throttle": 1,
    }
else:
    # kombu's filesystem transport: a broker with no server, for `make run` on a fresh machine.
    _broker_dir = VAR_DIR / "celery-broker"
    CELERY_BROKER_URL = "filesystem://"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SOFT_TIME_LIMIT = env_int("CELERY_TASK_SOFT_TIME_LIMIT", 600)
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 660)
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_BEAT_SCHEDULE = {
    "heartbeat": {"task": "crm.tasks.heartbeat", "schedule": 60.0},
    # Due broadcasts start, stalled ones are revived (campaigns.services.broadcasts_tick).
    "broadcasts-tick": {"task": "campaigns.tasks.broadcasts_tick", "schedule": 10.0},
    # Due follow-up steps run (campaigns.sequences.sequences_tick).
    "sequences-tick": {"task": "campaigns.tasks.sequences_tick", "schedule": 30.0},
    # Due moments posts are published, once per account (moments.publishing.moments_tick).
    "moments-tick": {"task": "moments.tasks.moments_tick", "schedule": 30.0},
    # Referral campaigns start and end, due invites qualify, wanted posters are made (referrals.services).
    "referrals-tick": {"task": "referrals.tasks.referrals_tick", "schedule": 30.0},
    # Report rollups of each workspace whose book changed are rewritten (reports.rollups), the default view cached.
    "reports-rollups": {"task": "reports.tasks.rollups_refresh_stale", "schedule": 600.0},
    # Every contact's lifecycle stage is recomputed once a day (reports.lifecycle.stages_refresh).
    "reports-stages": {"task": "reports.tasks.stages_refresh_all", "schedule": 86400.0},
    # Export files older than a week are deleted (their jobs say they expired); lost running exports fail.
    "export-jobs-expire": {"task": "crm.tasks.export_jobs_expire", "schedule": 3600.0},
    # WeCom: the full sync (staff, customers, tags, group chats; wecom.sync), mass-send results fetched into the
    # deliveries (wecom.results), moments handed to WeCom followed up: published, likes, comments (wecom.moments).
    "wecom-sync": {"task": "wecom.tasks.sync_all", "schedule": 6 * 60 * 60.0},
    "wecom-mass-send-results": {"task": "wecom.tasks.mass_send_results_poll", "schedule": 300.0},
    "wecom-moment-tasks": {"task": "wecom.tasks.moment_tasks_poll", "schedule": 600.0},
}
CELERY_TASK_ALWAYS_EAGER = env_bool("CELERY_TASK_ALWAYS_EAGER", TESTING)
CELERY_TASK_EAGER_PROPAGATES = True

# Broadcasts: how long a delivery claimed by a worker stays its own; after that (the worker died) another run of
# its chunk may claim it. Longer than CELERY_TASK_TIME_LIMIT, so a live task is never overtaken.
BROADCAST_CLAIM_LEASE_SECONDS = env_int("BROADCAST_CLAIM_LEASE_SECONDS", 900)

# Contacts: how long a filtered list's count is reused before it is counted again (seconds).
CONTACT_COUNT_CACHE_SECONDS = env_int("CONTACT_COUNT_CACHE_SECONDS", 300)

# Exports: a list or segment of more contacts than this is written by Celery (an export job), not in the request.
EXPORT_INLINE_MAX_ROWS = env_int("EXPORT_INLINE_MAX_ROWS", 20_000)

# The address the referral posters' QR codes point at (the landing page /r/<code> is appended).
SITE_URL = env_str("SITE_URL", "http://127.0.0.1:8000")
# A font with Chinese glyphs for the posters; empty: the first of referrals.posters.FONT_CANDIDATES found.
REFERRAL_POSTER_FONT = env_str("REFERRAL_POSTER_FONT", "")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "INFO")},
}

if PRODUCTION:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS")
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
