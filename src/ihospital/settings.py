"""Settings come from the environment only; with nothing set, the embedded default runs.

Two deployments are recognised (``IHOSPITAL_DEPLOYMENT``):

* ``embedded`` (default): SQLite in WAL mode, in-memory channel layer, database task queue with a worker
  started beside the server, demo data allowed. A per-checkout secret key is generated under ``var/``.
* ``production``: ``SECRET_KEY`` and ``ALLOWED_HOSTS`` are required, cookies are secure, HTTPS is assumed,
  and every demo shortcut (demo data, printed second factors) refuses to run.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent
PROJECT_DIR = BASE_DIR.parent.parent
VAR_DIR = Path(os.environ.get("IHOSPITAL_VAR_DIR", PROJECT_DIR / "var"))


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: list[str]) -> list[str]:
    value = os.environ.get(name)
    if not value:
        return default
    return [item.strip() for item in value.split(",") if item.strip()]


DEPLOYMENT = os.environ.get("IHOSPITAL_DEPLOYMENT", "embedded")
if DEPLOYMENT not in {"embedded", "production"}:
    raise ImproperlyConfigured("IHOSPITAL_DEPLOYMENT must be 'embedded' or 'production'")
PRODUCTION = DEPLOYMENT == "production"
# Demo data and printed TOTP secrets exist only to try the platform out; production never allows them.
DEMO_ENABLED = not PRODUCTION

DEBUG = env_bool("DEBUG", False)


def _secret_key() -> str:
    key = os.environ.get("SECRET_KEY")
    if key:
        return key
    if PRODUCTION:
        raise ImproperlyConfigured("SECRET_KEY must be set in production")
    # Embedded default: one random key per checkout, kept outside the repository.
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    key_file = VAR_DIR / "secret_key"
    if not key_file.exists():
        key_file.write_text(secrets.token_urlsafe(50))
        key_file.chmod(0o600)
    return key_file.read_text().strip()


SECRET_KEY = _secret_key()
# Keys the audit log's hash chain. Keep it outside the database (and its backups) and never change it: rows
# written under another key no longer verify. Defaults to a key derived from SECRET_KEY.
AUDIT_CHAIN_KEY = os.environ.get("AUDIT_CHAIN_KEY") or hashlib.sha256(f"audit-chain:{SECRET_KEY}".encode()).hexdigest()

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "[::1]", "testserver"])
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set in production")
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "channels",
    "django_htmx",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "django_tasks",
    "django_tasks_db",
    "ihospital.core",
    "ihospital.accounts",
    "ihospital.directory",
    "ihospital.records",
    "ihospital.notifications",
    "ihospital.wechat",
    "ihospital.payments",
    "ihospital.visits",
    "ihospital.prescriptions",
    "ihospital.pharmacy",
    "ihospital.homecare",
    "ihospital.diagnostics",
    "ihospital.teleconsult",
    "ihospital.scheduling",
    "ihospital.web",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "ihospital.core.middleware.RequestContextMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "ihospital.accounts.middleware.IdleTimeoutMiddleware",
    "ihospital.accounts.middleware.UserPreferencesMiddleware",
    "ihospital.accounts.middleware.StaffSecondFactorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "ihospital.web.errors.DomainErrorMiddleware",
]

ROOT_URLCONF = "ihospital.urls"
ASGI_APPLICATION = "ihospital.asgi.application"
WSGI_APPLICATION = None

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "ihospital.web.context_processors.platform",
            ],
        },
    }
]

# --- Database ---------------------------------------------------------------------------------------------
SQLITE_PATH = VAR_DIR / "ihospital.sqlite3"
DATABASES = {
    "default": dj_database_url.parse(
        os.environ.get("DATABASE_URL", f"sqlite:///{SQLITE_PATH}"), conn_max_age=0, conn_health_checks=True
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES["default"]["OPTIONS"] = {
        # WAL lets readers proceed during a write; IMMEDIATE takes the write lock at BEGIN so two writers
        # queue on busy_timeout instead of failing with "database is locked" half-way through.
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    DATABASES["default"]["TEST"] = {"NAME": str(VAR_DIR / "test.sqlite3")} if env_bool("SQLITE_TEST_FILE") else {}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels, cache, tasks ---------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CHANNEL_LAYERS = {
        "default": {"BACKEND": "channels_redis.core.RedisChannelLayer", "CONFIG": {"hosts": [REDIS_URL]}}
    }
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL}}
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

TASKS = {"default": {"BACKEND": os.environ.get("TASKS_BACKEND", "django_tasks_db.DatabaseBackend")}}

# --- Identity and sessions ----------------------------------------------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = ["ihospital.accounts.backends.PhoneOrUsernameBackend"]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "web:home"
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 8}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
# Idle timeout (seconds): staff sessions expire sooner, as protection level 3 expects.
IDLE_TIMEOUT_STAFF = int(os.environ.get("IDLE_TIMEOUT_STAFF", 15 * 60))
IDLE_TIMEOUT_PATIENT = int(os.environ.get("IDLE_TIMEOUT_PATIENT", 30 * 60))
SESSION_COOKIE_AGE = 12 * 3600  # absolute ceiling; the idle timeout is enforced by middleware
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
LOGIN_MAX_FAILURES = int(os.environ.get("LOGIN_MAX_FAILURES", 5))
LOGIN_LOCKOUT_SECONDS = int(os.environ.get("LOGIN_LOCKOUT_SECONDS", 15 * 60))
LOGIN_IP_MAX_FAILURES = int(os.environ.get("LOGIN_IP_MAX_FAILURES", 30))
OTP_TOTP_ISSUER = os.environ.get("OTP_TOTP_ISSUER", "ihospital")
API_TOKEN_TTL_HOURS = int(os.environ.get("API_TOKEN_TTL_HOURS", 12))

# --- Internationalisation -----------------------------------------------------------------------------------
LANGUAGE_CODE = os.environ.get("LANGUAGE_CODE", "zh-hans")
LANGUAGES = [("zh-hans", _("Simplified Chinese")), ("en", _("English"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
USE_I18N = True
USE_TZ = True
TIME_ZONE = os.environ.get("TIME_ZONE", "Asia/Shanghai")
LANGUAGE_COOKIE_NAME = "ihospital_language"

# --- Files ----------------------------------------------------------------------------------------------------
STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", VAR_DIR / "static"))
WHITENOISE_USE_FINDERS = not PRODUCTION
# Uploaded health documents live outside any static or media root and are only served by an authorised view.
PRIVATE_STORAGE_ROOT = Path(os.environ.get("PRIVATE_STORAGE_ROOT", VAR_DIR / "private"))
DOCUMENT_MAX_BYTES = int(os.environ.get("DOCUMENT_MAX_BYTES", 20 * 1024 * 1024))
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024

# --- Security -------------------------------------------------------------------------------------------------
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = int(os.environ.get("SECURE_HSTS_SECONDS", 31536000))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": os.environ.get("LOG_LEVEL", "WARNING")},
}

# --- Platform ---------------------------------------------------------------------------------------------------
HOSPITAL_NAME = os.environ.get("HOSPITAL_NAME", "")
# The address the platform is reached at from outside (providers' callbacks, links in messages), no trailing slash.
# `ihospital serve` sets it from --host/--port when it is not given.
SITE_URL = os.environ.get("SITE_URL", "http://127.0.0.1:8000").rstrip("/")
ONLINE_DOCTOR_MIN_YEARS = 3
HOME_NURSE_MIN_YEARS = 5
# Scheduling: how far ahead slots are generated and bookable, and the limits on booking, cancelling and
# rescheduling (a patient's own changes; the doctor and the hospital are not held to the hour limits).
BOOKING_HORIZON_DAYS = int(os.environ.get("BOOKING_HORIZON_DAYS", 14))
BOOKING_MIN_LEAD_MINUTES = int(os.environ.get("BOOKING_MIN_LEAD_MINUTES", 0))
CANCEL_LIMIT_HOURS = float(os.environ.get("CANCEL_LIMIT_HOURS", 2))
RESCHEDULE_LIMIT_HOURS = float(os.environ.get("RESCHEDULE_LIMIT_HOURS", 2))
MAX_RESCHEDULES = int(os.environ.get("MAX_RESCHEDULES", 2))
if not PRODUCTION:
    STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # whitenoise serves from finders; it only wants the folder

# --- Online visits -----------------------------------------------------------------------------------------------
# ICE servers for WebRTC calls, as the JSON list RTCPeerConnection takes, e.g.
# '[{"urls": "stun:stun.example.org:3478"},
#   {"urls": "turn:turn.example.org:3478", "username": "u", "credential": "p"}]'.
# Empty by default: on a LAN or loopback, host candidates connect without STUN; production needs a TURN server.
ICE_SERVERS = json.loads(os.environ.get("ICE_SERVERS", "[]"))
CHAT_MAX_CHARS = int(os.environ.get("CHAT_MAX_CHARS", 4000))
VISIT_DEFAULT_MINUTES = int(os.environ.get("VISIT_DEFAULT_MINUTES", 10))
VISIT_REMINDER_MINUTES = int(os.environ.get("VISIT_REMINDER_MINUTES", 30))
UNANSWERED_ALERT_MINUTES = int(os.environ.get("UNANSWERED_ALERT_MINUTES", 15))
VISIT_CARE_DAYS = int(os.environ.get("VISIT_CARE_DAYS", 30))
# A second factor typed at sign-in this recently also starts the doctor's consultation day.
CONSULT_REAUTH_MINUTES = int(os.environ.get("CONSULT_REAUTH_MINUTES", 5))
# Prescriptions (issue 4). Days of supply a prescription may cover, by kind: acute illness, chronic disease,
# and a stable chronic disease on a long-term prescription (长期处方, up to 12 weeks).
RX_MAX_DAYS_ACUTE = int(os.environ.get("RX_MAX_DAYS_ACUTE", 7))
RX_MAX_DAYS_CHRONIC = int(os.environ.get("RX_MAX_DAYS_CHRONIC", 30))
RX_MAX_DAYS_LONG_TERM = int(os.environ.get("RX_MAX_DAYS_LONG_TERM", 84))
# A prescription is valid (may be paid and dispensed) this many days after signing (处方管理办法 art. 18: 3 days).
RX_VALID_DAYS = int(os.environ.get("RX_VALID_DAYS", 3))
# Items on one prescription (处方管理办法 art. 6: no more than 5 drugs per prescription).
RX_MAX_ITEMS = int(os.environ.get("RX_MAX_ITEMS", 5))
# Refills: how many a doctor may allow, how early before the supply runs out one may be asked for, and for how
# long after the original was signed refills remain possible.
RX_MAX_REFILLS = int(os.environ.get("RX_MAX_REFILLS", 5))
RX_REFILL_EARLY_DAYS = int(os.environ.get("RX_REFILL_EARLY_DAYS", 7))
RX_REFILL_WINDOW_DAYS = int(os.environ.get("RX_REFILL_WINDOW_DAYS", 365))
# Seals the content hash of signed prescriptions and reviews (HMAC). Rotate only with a re-seal migration.
RX_SEAL_KEY = os.environ.get("RX_SEAL_KEY", "") or f"rx-seal:{SECRET_KEY}"
# Medicine orders (issue 5). Minutes an unpaid order holds its stock; delivery fee: flat, or by distance bands
# from the pharmacy ('[[5, 600], [20, 1000], [9999, 1500]]': up to 5 km ¥6...) when the address is on the map;
# surcharge for cold-chain parcels.
ORDER_PAYMENT_MINUTES = int(os.environ.get("ORDER_PAYMENT_MINUTES", 30))
DELIVERY_FEE_FEN = int(os.environ.get("DELIVERY_FEE_FEN", 1000))
DELIVERY_FEE_BANDS = json.loads(os.environ.get("DELIVERY_FEE_BANDS", "[]"))
COLD_CHAIN_SURCHARGE_FEN = int(os.environ.get("COLD_CHAIN_SURCHARGE_FEN", 1500))
PHARMACY_LATITUDE = float(os.environ.get("PHARMACY_LATITUDE", 37.8570))
PHARMACY_LONGITUDE = float(os.environ.get("PHARMACY_LONGITUDE", 112.5590))
# Courier: "simulator" (built in: tracking callbacks over HTTP, signed) or "sf" (SF Express open platform).
COURIER_PROVIDER = os.environ.get("COURIER_PROVIDER", "simulator")
COURIER_SIM_SECRET = os.environ.get("COURIER_SIM_SECRET", "") or f"courier-sim:{SECRET_KEY}"
# Seconds between the simulator's events: picked up, in transit, out for delivery, delivered.
COURIER_SIM_STEP_SECONDS = float(os.environ.get("COURIER_SIM_STEP_SECONDS", 20))
SF_PARTNER_ID = os.environ.get("SF_PARTNER_ID", "")
SF_CHECK_WORD = os.environ.get("SF_CHECK_WORD", "")
SF_API_URL = os.environ.get("SF_API_URL", "https://sfapi.sf-express.com/std/service")
# The pharmacy as SF's sender ('{"company": "...", "contact": "...", "mobile": "...", "province": "...", ...}'),
# its monthly account card, and express product codes by service ('{"standard": 2, "cold_chain": 201}').
SF_SENDER = json.loads(os.environ.get("SF_SENDER", "{}"))
SF_MONTHLY_CARD = os.environ.get("SF_MONTHLY_CARD", "")
SF_EXPRESS_TYPES = json.loads(os.environ.get("SF_EXPRESS_TYPES", "{}"))
# The city the simulator's parcels leave from (default: Taiyuan, in the reader's language).
COURIER_SIM_ORIGIN_CITY = os.environ.get("COURIER_SIM_ORIGIN_CITY", "")
# Home nursing (issue 6, docs/homecare.md). Who may book: age for "elderly"; days since discharge for
# "recently discharged"; days after birth for "mother and newborn". How far ahead, and within which hours.
HOMECARE_ELDERLY_AGE = int(os.environ.get("HOMECARE_ELDERLY_AGE", 60))
HOMECARE_DISCHARGE_DAYS = int(os.environ.get("HOMECARE_DISCHARGE_DAYS", 30))
HOMECARE_POSTPARTUM_DAYS = int(os.environ.get("HOMECARE_POSTPARTUM_DAYS", 42))
HOMECARE_BOOKING_DAYS = int(os.environ.get("HOMECARE_BOOKING_DAYS", 14))
HOMECARE_DAY_START = os.environ.get("HOMECARE_DAY_START", "08:00")
HOMECARE_DAY_END = os.environ.get("HOMECARE_DAY_END", "20:00")
# The service area: kilometres from the hospital (HOMECARE_BASE_*), and the geocoder ("addressbook": built in,
# the bundled address book with coordinates, no network).
HOMECARE_BASE_LATITUDE = float(os.environ.get("HOMECARE_BASE_LATITUDE", 37.8570))
HOMECARE_BASE_LONGITUDE = float(os.environ.get("HOMECARE_BASE_LONGITUDE", 112.5590))
HOMECARE_SERVICE_RADIUS_KM = float(os.environ.get("HOMECARE_SERVICE_RADIUS_KM", 30))
HOMECARE_GEOCODER = os.environ.get("HOMECARE_GEOCODER", "addressbook")
# Dispatch: the travel-time matrix ("haversine": great-circle distance x detour at a speed), the optimiser's
# time budget per proposal.
HOMECARE_TRAVEL_MATRIX = os.environ.get("HOMECARE_TRAVEL_MATRIX", "haversine")
HOMECARE_SPEED_KMH = float(os.environ.get("HOMECARE_SPEED_KMH", 25))
HOMECARE_DETOUR = float(os.environ.get("HOMECARE_DETOUR", 1.3))
HOMECARE_DISPATCH_SECONDS = float(os.environ.get("HOMECARE_DISPATCH_SECONDS", 3))
# The visit: a check-in or check-out farther than this from the address is flagged for review (never refused);
# a visit this many minutes past its expected end raises a check-on-nurse alert; the nurse keeps the chart this
# many hours after checking out; an unacknowledged alarm is sent again every this many seconds.
HOMECARE_CHECKIN_RADIUS_M = int(os.environ.get("HOMECARE_CHECKIN_RADIUS_M", 300))
HOMECARE_OVERRUN_MINUTES = int(os.environ.get("HOMECARE_OVERRUN_MINUTES", 30))
HOMECARE_CARE_ACCESS_HOURS = int(os.environ.get("HOMECARE_CARE_ACCESS_HOURS", 24))
HOMECARE_ALARM_REPEAT_SECONDS = int(os.environ.get("HOMECARE_ALARM_REPEAT_SECONDS", 60))
# The number security staff can call, shown beside the alarm when the network is gone.
HOMECARE_SECURITY_PHONE = os.environ.get("HOMECARE_SECURITY_PHONE", "110")
# Medical tests (issue 7, docs/diagnostics.md): results not signed off by the doctor are released to the patient
# after this many hours (never a critical one); the largest DICOM file accepted.
DIAGNOSTICS_AUTO_RELEASE_HOURS = int(os.environ.get("DIAGNOSTICS_AUTO_RELEASE_HOURS", 72))

# Remote expert consultation (issue 8, docs/teleconsult.md). Targets in minutes from sending, by urgency: the
# first expert's response and the signed report. An overdue request is escalated once per level: level 1 at
# the target (the coordinators), level 2 when another half of the target has passed (also the admins).
TELECONSULT_TARGETS = json.loads(os.environ.get("TELECONSULT_TARGETS", "null")) or {
    "routine": {"first_response": 24 * 60, "report": 72 * 60},
    "urgent": {"first_response": 4 * 60, "report": 24 * 60},
    "emergency": {"first_response": 30, "report": 4 * 60},
}
# A peer-to-peer mesh sends every participant's video to every other: beyond 4 a media server (SFU) is needed.
TELECONSULT_MAX_PARTICIPANTS = int(os.environ.get("TELECONSULT_MAX_PARTICIPANTS", 4))
# Experts: home-hospital doctors of at least this title (副主任医师 and above by default).
TELECONSULT_EXPERT_TITLES = os.environ.get("TELECONSULT_EXPERT_TITLES", "assoc_chief,chief").split(",")
DICOM_MAX_BYTES = int(os.environ.get("DICOM_MAX_BYTES", 100 * 1024 * 1024))
# Retention (years). Chart records at least 15 years, chat and audio/video of visits at least 3 years.
# Nothing of a chart or a visit is deleted by the application; these tell the archive job what it may purge.
RETENTION_RECORDS_YEARS = int(os.environ.get("RETENTION_RECORDS_YEARS", 15))
RETENTION_CHAT_YEARS = int(os.environ.get("RETENTION_CHAT_YEARS", 3))

# --- Payments (docs/payments.md) ------------------------------------------------------------------------------------
# The provider new payments use ("sandbox", built in, or "wechatpay"), and every provider this deployment accepts
# payments and callbacks from (comma-separated; the default is always included). Production never defaults to the
# sandbox, whose payers confirm their own payments.
PAYMENT_PROVIDER = os.environ.get("PAYMENT_PROVIDER", "wechatpay" if PRODUCTION else "sandbox")
PAYMENT_PROVIDERS = env_list("PAYMENT_PROVIDERS", [PAYMENT_PROVIDER])
# Requests to a provider that cannot be reached (close an attempt, ask for a refund) are retried after these delays.
PAYMENTS_PROVIDER_RETRY_SECONDS = env_list(
    "PAYMENTS_PROVIDER_RETRY_SECONDS", ["30", "60", "300", "900", "3600", "10800"]
)
# The sandbox provider: the key of its callbacks' HMAC signature, how long after the payer's tap it calls back,
# and when it retries a callback that was not answered 2xx (then gives up).
PAYMENTS_SANDBOX_SECRET = os.environ.get("PAYMENTS_SANDBOX_SECRET", "") or f"payments-sandbox:{SECRET_KEY}"
PAYMENTS_SANDBOX_DELAY_SECONDS = float(os.environ.get("PAYMENTS_SANDBOX_DELAY_SECONDS", 1))
PAYMENTS_SANDBOX_RETRY_SECONDS = env_list(
    "PAYMENTS_SANDBOX_RETRY_SECONDS", ["5", "15", "30", "180", "600", "1200", "1800", "3600", "10800", "21600"]
)
# WeChat Pay API v3: merchant id, the app id the payer pays in, the serial of the merchant API certificate and its
# private key (PEM file), the APIv3 key (32 characters), WeChat Pay's platform certificate (or its public key and
# that key's id), and where WeChat Pay delivers callbacks (default <SITE_URL>/payments/notify/wechatpay/).
WECHATPAY_MCHID = os.environ.get("WECHATPAY_MCHID", "")
WECHATPAY_APPID = os.environ.get("WECHATPAY_APPID", "")
WECHATPAY_SERIAL_NO = os.environ.get("WECHATPAY_SERIAL_NO", "")
WECHATPAY_PRIVATE_KEY_PATH = os.environ.get("WECHATPAY_PRIVATE_KEY_PATH", "")
WECHATPAY_APIV3_KEY = os.environ.get("WECHATPAY_APIV3_KEY", "")
WECHATPAY_PLATFORM_CERT_PATH = os.environ.get("WECHATPAY_PLATFORM_CERT_PATH", "")
WECHATPAY_PLATFORM_PUBLIC_KEY_PATH = os.environ.get("WECHATPAY_PLATFORM_PUBLIC_KEY_PATH", "")
WECHATPAY_PLATFORM_PUBLIC_KEY_ID = os.environ.get("WECHATPAY_PLATFORM_PUBLIC_KEY_ID", "")
WECHATPAY_NOTIFY_URL = os.environ.get("WECHATPAY_NOTIFY_URL", "")
WECHATPAY_API_BASE = os.environ.get("WECHATPAY_API_BASE", "https://api.mch.weixin.qq.com")

# ---- The WeChat Official Account and notifications (issue 9, docs/wechat.md, docs/notifications.md) -------------
# The Official Account (公众号): app id and secret (API calls), the server token (signature of every callback), the
# EncodingAESKey (43 characters; safe mode), and where WeChat's API and OAuth pages are. The embedded default talks
# to the local WeChat simulator (``ihospital.wechat.simulator``, started by ``ihospital serve`` on
# WECHAT_SIMULATOR_PORT); production points these at api.weixin.qq.com and open.weixin.qq.com.
WECHAT_SIMULATOR_PORT = int(os.environ.get("WECHAT_SIMULATOR_PORT", 8001))
_WECHAT_SIM = f"http://127.0.0.1:{WECHAT_SIMULATOR_PORT}"
WECHAT_APPID = os.environ.get("WECHAT_APPID", "" if PRODUCTION else "wx00simulator0001")
WECHAT_SECRET = os.environ.get("WECHAT_SECRET", "" if PRODUCTION else "simulator-app-secret")
WECHAT_TOKEN = os.environ.get("WECHAT_TOKEN", "" if PRODUCTION else "simulatortoken")
WECHAT_ENCODING_AES_KEY = os.environ.get(
    "WECHAT_ENCODING_AES_KEY", "" if PRODUCTION else "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
)
WECHAT_API_BASE = os.environ.get("WECHAT_API_BASE", "https://api.weixin.qq.com" if PRODUCTION else _WECHAT_SIM)
WECHAT_OAUTH_BASE = os.environ.get(
    "WECHAT_OAUTH_BASE", "https://open.weixin.qq.com" if PRODUCTION else _WECHAT_SIM
)
WECHAT_TIMEOUT_SECONDS = float(os.environ.get("WECHAT_TIMEOUT_SECONDS", 10))
# Template message ids by notification category (set in the Official Account's back office), as JSON.
WECHAT_TEMPLATE_IDS = json.loads(os.environ.get("WECHAT_TEMPLATE_IDS", "null") or "null") or {}
# SMS: "outbox" (embedded: stored and shown on the outbox page) or "aliyun" (Alibaba Cloud SMS, signed requests).
SMS_PROVIDER = os.environ.get("SMS_PROVIDER", "outbox")
ALIYUN_SMS_ACCESS_KEY_ID = os.environ.get("ALIYUN_SMS_ACCESS_KEY_ID", "")
ALIYUN_SMS_ACCESS_KEY_SECRET = os.environ.get("ALIYUN_SMS_ACCESS_KEY_SECRET", "")
ALIYUN_SMS_SIGN_NAME = os.environ.get("ALIYUN_SMS_SIGN_NAME", "")
ALIYUN_SMS_TEMPLATE_CODE = os.environ.get("ALIYUN_SMS_TEMPLATE_CODE", "")
ALIYUN_SMS_ENDPOINT = os.environ.get("ALIYUN_SMS_ENDPOINT", "https://dysmsapi.aliyuncs.com/")
# E-mail: Django's backends. The embedded default keeps mail in the outbox; production sets the SMTP ones.
EMAIL_BACKEND = os.environ.get(
    "EMAIL_BACKEND",
    "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION else "ihospital.notifications.outbox.EmailBackend",
)
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = int(os.environ.get("EMAIL_PORT", 25))
EMAIL_HOST_USER = os.environ.get("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = os.environ.get("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "ihospital <noreply@localhost>")
# Delivery retries of the outside channels (seconds after each failed attempt), then the delivery is failed.
NOTIFY_RETRY_SECONDS = [int(s) for s in env_list("NOTIFY_RETRY_SECONDS", ["30", "120", "600", "1800", "7200"])]
# Default quiet hours (local time) for the outside channels; each user may change or clear them.
NOTIFY_QUIET_HOURS = os.environ.get("NOTIFY_QUIET_HOURS", "22:00-07:00")
