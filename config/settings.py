"""DictaMesh settings: one module, every deployment value from the environment.

Local defaults let `make run` and `make test` work on a development machine with
PostgreSQL and Redis on 127.0.0.1. With DEBUG off, a secret key must be given.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

from dictamesh.env import (
    env_bool,
    env_float,
    env_int,
    env_list,
    env_list_item_parsed,
    env_parsed,
    env_str,
)
from dictamesh.events.kafka_config import KafkaSecurity
from dictamesh.observability.logging import build_logging_config
from dictamesh.secrets import derive_key
from dictamesh.setting_values import (
    allowed_hosts,
    bootstrap_servers,
    fernet_keys,
    migration_executor,
    proxy_ssl_header,
)

BASE_DIR = Path(__file__).resolve().parent.parent

DEBUG = env_bool("DEBUG", default=True)
_DEV_SECRET_KEY = "dictamesh-insecure-local-development-key-do-not-deploy"  # noqa: S105
SECRET_KEY = env_str("SECRET_KEY", default=_DEV_SECRET_KEY if DEBUG else "")
if not SECRET_KEY:
    raise ImproperlyConfigured(
        "Set the environment variable SECRET_KEY: it is required when DEBUG is off."
    )
ALLOWED_HOSTS = allowed_hosts("ALLOWED_HOSTS", env_list(
    "ALLOWED_HOSTS", default=["localhost", ".localhost", "127.0.0.1"]))
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", default=[])

# --- HTTPS and cookies: secure unless DEBUG is on (`manage.py check --deploy` finds nothing
# to warn about with the production environment the README documents). Probes are
# answered before SecurityMiddleware, so plain-HTTP health checks are never redirected;
# so is /metrics, scraped inside the cluster.
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^metrics$"]
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 31_536_000, minimum=0)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("SECURE_HSTS_INCLUDE_SUBDOMAINS", default=not DEBUG)
SECURE_HSTS_PRELOAD = env_bool("SECURE_HSTS_PRELOAD", default=not DEBUG)
SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", default=not DEBUG)
CSRF_COOKIE_SECURE = env_bool("CSRF_COOKIE_SECURE", default=not DEBUG)
# "<header>=<value>" set by the TLS-terminating proxy, e.g. X-Forwarded-Proto=https. Only
# behind a proxy that always sets (or strips) that header: a client could send it itself.
SECURE_PROXY_SSL_HEADER = env_parsed("SECURE_PROXY_SSL_HEADER", "", proxy_ssl_header,
                                     "<header>=<value>, e.g. X-Forwarded-Proto=https")
# Django's error reports hide settings by name; URLs may carry passwords too.
DEFAULT_EXCEPTION_REPORTER_FILTER = "dictamesh.observability.reporting.SecretsFilter"

# --- Applications -------------------------------------------------------------------------
# django-tenants: SHARED_APPS live in the public schema, TENANT_APPS in every tenant schema.
SHARED_APPS = [
    "django_tenants",
    "apps.tenancy",
    "apps.catalog.schema_registry",
    # The admin with tenant memberships and roles (apps/tenancy/admin_site.py).
    "apps.tenancy.admin_config.DictaMeshAdminConfig",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_prometheus",
    "dictamesh.observability",
    "dictamesh.database",  # replica routing: watches the primary's connections for writes
    "axes",  # admin and registry sign-in throttling; its records are the platform's
]
TENANT_APPS = [
    "django.contrib.contenttypes",
    "apps.events",
    "apps.catalog",
    "apps.adapters",
    "apps.federation",
    "apps.sagas",
]
INSTALLED_APPS = SHARED_APPS + [app for app in TENANT_APPS if app not in SHARED_APPS]

TENANT_MODEL = "tenancy.Tenant"
TENANT_DOMAIN_MODEL = "tenancy.Domain"
# Hosts that match no tenant domain are served from the public schema (admin, health,
# metrics, schema registry) instead of answering 404.
SHOW_PUBLIC_IF_NO_TENANT_FOUND = True
PUBLIC_SCHEMA_NAME = "public"
# Send `SET search_path` when a connection's schema changes, not before every query (a
# CreateInvoice saga sent it 16 times in 40 queries). Safe here: connections are per
# thread, and each schema switch (schema_context, set_tenant) clears the remembered path,
# as do close, rollback and savepoint rollback (which undo a SET made inside them);
# nothing in the project sets search_path by hand (tests/tenancy/test_search_path.py).
TENANT_LIMIT_SET_CALLS = True

MIDDLEWARE = [
    "dictamesh.health.middleware.ProbeMiddleware",  # first: probes need no tenant lookup
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    # django-tenants' middleware, finding the tenant without a search_path switch.
    "apps.tenancy.middleware.TenantMiddleware",
    # After the tenant is known: http_request_duration_seconds{tenant, route}.
    "dictamesh.observability.http_metrics.RequestDurationMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Who and from where, for the audit log (after the user is known).
    "apps.tenancy.audit.AuditActorMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

if not DEBUG:  # gunicorn serves the admin's static files through WhiteNoise; runserver does it
    MIDDLEWARE.insert(MIDDLEWARE.index("django.middleware.security.SecurityMiddleware") + 1,
                      "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

# --- PostgreSQL ---------------------------------------------------------------------------
DATABASE_URL = env_str("DATABASE_URL", default="postgres://postgres@127.0.0.1:5432/dictamesh")


def _parse_database_url(url: str) -> dict:
    if urlparse(url).scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ValueError("DictaMesh needs PostgreSQL (postgres://user:pass@host:port/name)")
    config = dj_database_url.parse(url, conn_max_age=env_int("DATABASE_CONN_MAX_AGE", 60))
    if not config.get("NAME"):
        raise ValueError("the URL names no database")
    return dict(config)


_database = env_parsed(
    "DATABASE_URL", DATABASE_URL, _parse_database_url, "a PostgreSQL URL",
    url_with_password=True,
)
# django-tenants wraps the real backend; django-prometheus' backend counts queries.
# django-tenants' backend that sends `SET search_path` only when the path changes
# (dictamesh/tenant_db/base.py).
_database["ENGINE"] = "dictamesh.tenant_db"
_database.setdefault("OPTIONS", {})["connect_timeout"] = env_int("DATABASE_CONNECT_TIMEOUT", 5)
DATABASES = {"default": _database}
ORIGINAL_BACKEND = "django_prometheus.db.backends.postgresql"

# Read replicas (streaming replicas of DATABASE_URL's server) answer catalog reads: graph
# traversal, lineage, event history, the catalog admin's entity page (dictamesh/database/
# replicas.py says which reads stay on the primary). Aliases replica_1, replica_2, ...
DATABASE_REPLICAS: list[str] = []
for _position, _replica_url in enumerate(env_list("DATABASE_REPLICA_URLS", []), start=1):
    _replica = env_list_item_parsed("DATABASE_REPLICA_URLS", _position, _replica_url,
                                    _parse_database_url, "a PostgreSQL URL",
                                    url_with_password=True)
    _replica["ENGINE"] = _database["ENGINE"]
    _replica.setdefault("OPTIONS", {})["connect_timeout"] = _database["OPTIONS"]["connect_timeout"]
    # The test suite has one database; a replica alias reads it (the replica tests start a
    # real streaming replica of their own).
    _replica["TEST"] = {"MIRROR": "default"}
    DATABASES[f"replica_{_position}"] = _replica
    DATABASE_REPLICAS.append(f"replica_{_position}")
# How long a replica that failed to answer is left out (its reads go to the primary).
DATABASE_REPLICA_RETRY_SECONDS = env_float("DATABASE_REPLICA_RETRY_SECONDS", 30, minimum=0)
# migrate_schemas skips the schemas with nothing to migrate and hands the others to this
# django-tenants executor: standard (one after the other) or multiprocessing.
GET_EXECUTOR_FUNCTION = "dictamesh.database.migrate_executor.get_executor"
TENANT_MIGRATION_EXECUTOR = env_parsed(
    "TENANT_MIGRATION_EXECUTOR", "standard", migration_executor, "standard or multiprocessing")
TENANT_MULTIPROCESSING_MAX_PROCESSES = env_int("TENANT_MULTIPROCESSING_MAX_PROCESSES", 2,
                                               minimum=1)
DATABASE_ROUTERS = [
    "dictamesh.database.replicas.ReplicaRouter",
    "django_tenants.routers.TenantSyncRouter",
]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Redis: cache, Celery, rate limits ----------------------------------------------------
REDIS_URL = env_str("REDIS_URL", default="redis://127.0.0.1:6379/0")


def _parse_redis_url(url: str) -> str:
    if urlparse(url).scheme not in {"redis", "rediss", "unix"}:
        raise ValueError("expected redis://host:port/db")
    return url


REDIS_URL = env_parsed("REDIS_URL", REDIS_URL, _parse_redis_url, "a Redis URL",
                       url_with_password=True)
# How long a Redis client waits to connect and for an answer (dictamesh.redis_clients).
REDIS_TIMEOUT_SECONDS = env_float("REDIS_TIMEOUT_SECONDS", 2.0, minimum=0.001)
CACHES = {
    "default": {
        "BACKEND": "django_prometheus.cache.backends.redis.RedisCache",
        "LOCATION": REDIS_URL,
        # Every key starts with the current tenant's schema: tenants never share entries.
        "KEY_FUNCTION": "django_tenants.cache.make_key",
        "REVERSE_KEY_FUNCTION": "django_tenants.cache.reverse_key",
        "OPTIONS": {
            "CLIENT_CLASS": "django_redis.client.DefaultClient",
            "SOCKET_CONNECT_TIMEOUT": REDIS_TIMEOUT_SECONDS,
            "SOCKET_TIMEOUT": REDIS_TIMEOUT_SECONDS,
        },
    }
}

# --- Celery ---------------------------------------------------------------------------------
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", default=REDIS_URL)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", default=REDIS_URL)
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_TASK_DEFAULT_QUEUE", default="dictamesh")
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_EXPIRES = 3600
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacked task after this long; it must exceed the longest saga step
# (checked at start by apps.sagas), or a slow step would run on two workers.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 3600, minimum=1),
}

# --- Sagas ----------------------------------------------------------------------------------
SAGA_STEP_TIMEOUT_SECONDS = env_float("SAGA_STEP_TIMEOUT_SECONDS", 10.0, minimum=0.001)
SAGA_STEP_MAX_ATTEMPTS = env_int("SAGA_STEP_MAX_ATTEMPTS", 3, minimum=1)
SAGA_COMPENSATION_MAX_ATTEMPTS = env_int("SAGA_COMPENSATION_MAX_ATTEMPTS", 5, minimum=1)
SAGA_RETRY_INITIAL_BACKOFF_SECONDS = env_float("SAGA_RETRY_INITIAL_BACKOFF_SECONDS", 0.2,
                                               minimum=0.0)
SAGA_RETRY_MAX_BACKOFF_SECONDS = env_float("SAGA_RETRY_MAX_BACKOFF_SECONDS", 10.0, minimum=0.0)
# How long past a step's deadline recovery waits before it calls the worker dead.
SAGA_STEP_GRACE_SECONDS = env_float("SAGA_STEP_GRACE_SECONDS", 10.0, minimum=0.0)
SAGA_RECOVERY_INTERVAL_SECONDS = env_float("SAGA_RECOVERY_INTERVAL_SECONDS", 10.0,
                                           minimum=0.1)
SAGA_INVOICE_MAX_LINES = env_int("SAGA_INVOICE_MAX_LINES", 50, minimum=1)

# --- Kafka ----------------------------------------------------------------------------------
KAFKA_BOOTSTRAP_SERVERS = bootstrap_servers("KAFKA_BOOTSTRAP_SERVERS", env_list(
    "KAFKA_BOOTSTRAP_SERVERS", default=["127.0.0.1:9092"]))
# A real cluster's TLS and SASL, used by every Kafka client (dictamesh.events.kafka_config).
# SSL files are PEM paths; an empty CA file means the system's trusted authorities.
KAFKA_SECURITY_PROTOCOL = env_str("KAFKA_SECURITY_PROTOCOL", default="PLAINTEXT").upper()
KAFKA_SASL_MECHANISM = env_str("KAFKA_SASL_MECHANISM", default="").upper()
KAFKA_SASL_USERNAME = env_str("KAFKA_SASL_USERNAME", default="")
KAFKA_SASL_PASSWORD = env_str("KAFKA_SASL_PASSWORD", default="")
KAFKA_SSL_CAFILE = env_str("KAFKA_SSL_CAFILE", default="")
KAFKA_SSL_CERTFILE = env_str("KAFKA_SSL_CERTFILE", default="")
KAFKA_SSL_KEYFILE = env_str("KAFKA_SSL_KEYFILE", default="")
KAFKA_SSL_PASSWORD = env_str("KAFKA_SSL_PASSWORD", default="")
KAFKA_SSL_CHECK_HOSTNAME = env_bool("KAFKA_SSL_CHECK_HOSTNAME", default=True)
try:
    KafkaSecurity(
        protocol=KAFKA_SECURITY_PROTOCOL, sasl_mechanism=KAFKA_SASL_MECHANISM,
        sasl_username=KAFKA_SASL_USERNAME, sasl_password=KAFKA_SASL_PASSWORD,
    )
except ValueError as exc:
    raise ImproperlyConfigured(str(exc)) from None
for _name, _path in [("KAFKA_SSL_CAFILE", KAFKA_SSL_CAFILE),
                     ("KAFKA_SSL_CERTFILE", KAFKA_SSL_CERTFILE),
                     ("KAFKA_SSL_KEYFILE", KAFKA_SSL_KEYFILE)]:
    if _path and not Path(_path).is_file():
        raise ImproperlyConfigured(f"{_name}={_path!r}: no such file.")
# Consumers (dictamesh.events.consumer). The group timeouts are short so that a group join
# takes ~3 s instead of ~23 s; the retry backoff and twice the commit timeout must stay
# below the max poll interval.
KAFKA_CONSUMER_BATCH_SIZE = env_int("KAFKA_CONSUMER_BATCH_SIZE", 1000)
KAFKA_CONSUMER_BATCH_MAX_WAIT_MS = env_int("KAFKA_CONSUMER_BATCH_MAX_WAIT_MS", 500)
# How long the broker may hold an empty fetch (Kafka's fetch.max.wait.ms, and its default).
KAFKA_CONSUMER_FETCH_MAX_WAIT_MS = env_int("KAFKA_CONSUMER_FETCH_MAX_WAIT_MS", 500)
KAFKA_CONSUMER_SESSION_TIMEOUT_MS = env_int("KAFKA_CONSUMER_SESSION_TIMEOUT_MS", 6000)
KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS = env_int("KAFKA_CONSUMER_HEARTBEAT_INTERVAL_MS", 1000)
KAFKA_CONSUMER_MAX_POLL_INTERVAL_MS = env_int("KAFKA_CONSUMER_MAX_POLL_INTERVAL_MS", 10000)
KAFKA_CONSUMER_METADATA_MAX_AGE_MS = env_int("KAFKA_CONSUMER_METADATA_MAX_AGE_MS", 30000)
KAFKA_CONSUMER_MAX_PARTITION_FETCH_BYTES = env_int(
    "KAFKA_CONSUMER_MAX_PARTITION_FETCH_BYTES", 1024 * 1024
)
KAFKA_CONSUMER_COMMIT_TIMEOUT_MS = env_int("KAFKA_CONSUMER_COMMIT_TIMEOUT_MS", 3000)
KAFKA_CONSUMER_RETRY_BACKOFF_MS = env_int("KAFKA_CONSUMER_RETRY_BACKOFF_MS", 200)
KAFKA_CONSUMER_RETRY_BACKOFF_MAX_MS = env_int("KAFKA_CONSUMER_RETRY_BACKOFF_MAX_MS", 5000)
# A failure of unknown kind (not a lost connection, lock timeout or deadlock, and not bad
# data) is retried this many times before the event causing it is dead-lettered.
KAFKA_CONSUMER_MAX_ATTEMPTS = env_int("KAFKA_CONSUMER_MAX_ATTEMPTS", 5)
# How long a consumer transaction waits for a lock (e.g. an operator's LOCK TABLE) before it
# gives up and pauses just that tenant's partitions; 0 waits for ever.
KAFKA_CONSUMER_LOCK_TIMEOUT_MS = env_int("KAFKA_CONSUMER_LOCK_TIMEOUT_MS", 2000)
# Consumer dedupe records older than this are purged: keep it above the longest topic
# retention (90 days for invoices) plus the time a replay may reach back.
KAFKA_PROCESSED_EVENTS_RETENTION_DAYS = env_int("KAFKA_PROCESSED_EVENTS_RETENTION_DAYS", 120)
# Per consumer group, the runner settings (ConsumerSettings fields) that differ from the
# KAFKA_CONSUMER_* ones. The `live` group feeds GraphQL subscriptions, where a change should
# reach its subscribers well within a second: it collects a batch for 50 ms rather than
# 500 (a batch costs it one small transaction and one Redis round trip, so more and
# smaller batches are cheap), and lets an empty fetch wait 100 ms at most.
KAFKA_CONSUMER_GROUP_SETTINGS: dict[str, dict[str, int]] = {
    "live": {
        "batch_max_wait_ms": env_int("KAFKA_LIVE_BATCH_MAX_WAIT_MS", 50),
        "fetch_max_wait_ms": env_int("KAFKA_LIVE_FETCH_MAX_WAIT_MS", 100),
    },
}
# The groups the Celery worker runs in background threads; set it empty to run none.
KAFKA_WORKER_CONSUMER_GROUPS = env_list("KAFKA_WORKER_CONSUMER_GROUPS",
                                        default=["catalog", "live"])
# The consumer groups' entry points, one table: group -> topic glob -> handlers (dotted
# paths, run in this order in one transaction per tenant batch; apps/events/routes.py).
# Each app owns its handlers; the events app runs them. Code wiring, not deployment: not
# read from the environment, like INSTALLED_APPS.
EVENT_HANDLERS: dict[str, dict[str, list[str]]] = {
    "catalog": {
        "*.entity_changed": [
            "apps.catalog.event_handlers.apply_entity_changes",
            # Federation rides the catalog group: same topics, thread and dedupe.
            "apps.federation.event_handlers.invalidate_graphql_caches",
        ],
    },
    # GraphQL subscriptions: change events onto the channel layer (a group of its own, so
    # sockets never wait for the catalog's writes).
    "live": {
        "*.entity_changed": ["apps.federation.subscriptions.event_handlers.publish_live_events"],
        "*.system.sagas.state_changed": [
            "apps.federation.subscriptions.event_handlers.publish_live_events"],
        "*.system.lineage.relationship_created": [
            "apps.federation.subscriptions.event_handlers.publish_live_events"],
    },
}
# Where the events codec gets its schema ids: the catalog's schema registry. Named here (not
# imported by the events app) because the catalog publishes through the events app.
EVENT_SCHEMA_RESOLVER = "apps.catalog.schema_registry.resolver.RegistrySchemaResolver"
# The entity page's source connections come from the adapters, above the catalog.
CATALOG_SOURCE_DETAILS = "apps.adapters.services.source_details"
# The declarative topic spec that `manage.py provision_topics` applies.
KAFKA_TOPIC_SPEC = env_str("KAFKA_TOPIC_SPEC", default=str(BASE_DIR / "deploy/kafka/topics.toml"))
# Onboarding creates the tenant's topics (and fails loudly if Kafka is down). Turn off only
# where no broker runs; then run `manage.py provision_topics --tenant SLUG` yourself.
KAFKA_PROVISION_TOPICS_ON_ONBOARD = env_bool("KAFKA_PROVISION_TOPICS_ON_ONBOARD", default=True)
# The producer (dictamesh.events.producer): idempotent, acks=all; these tune throughput and
# how long a send may wait for a broker before the relay gives up and retries later.
KAFKA_PRODUCER_LINGER_MS = env_int("KAFKA_PRODUCER_LINGER_MS", 5)
KAFKA_PRODUCER_BATCH_BYTES = env_int("KAFKA_PRODUCER_BATCH_BYTES", 512 * 1024)
KAFKA_PRODUCER_COMPRESSION = env_str("KAFKA_PRODUCER_COMPRESSION", default="none")
if KAFKA_PRODUCER_COMPRESSION not in {"none", "gzip", "lz4", "snappy", "zstd"}:
    raise ImproperlyConfigured(
        f"KAFKA_PRODUCER_COMPRESSION={KAFKA_PRODUCER_COMPRESSION!r}: use none, gzip, lz4, "
        "snappy or zstd (the project's kafka-python extras install each codec's library)."
    )
KAFKA_PRODUCER_DELIVERY_TIMEOUT_MS = env_int("KAFKA_PRODUCER_DELIVERY_TIMEOUT_MS", 30_000)
KAFKA_PRODUCER_MAX_BLOCK_MS = env_int("KAFKA_PRODUCER_MAX_BLOCK_MS", 5_000)
# The outbox relay (apps.events.relay_worker) runs in every Celery worker unless disabled.
OUTBOX_RELAY_ENABLED = env_bool("OUTBOX_RELAY_ENABLED", default=True)
OUTBOX_RELAY_BATCH_SIZE = env_int("OUTBOX_RELAY_BATCH_SIZE", 2000)
# The relay wakes on a NOTIFY from each outbox commit; these are its safety nets: a full pass
# over every tenant every FULL_PASS_MS, and every IDLE_MS while it cannot LISTEN.
OUTBOX_RELAY_IDLE_MS = env_int("OUTBOX_RELAY_IDLE_MS", 200)
OUTBOX_RELAY_FULL_PASS_MS = env_int("OUTBOX_RELAY_FULL_PASS_MS", 5000)
# Sent outbox rows are kept this long: it is how far back `replay_events` can go.
OUTBOX_SENT_RETENTION_DAYS = env_int("OUTBOX_SENT_RETENTION_DAYS", 7)
# The catalog's event log (immutable; only `apply_retention` removes old entries). Per
# tenant: Tenant.retention overrides this and the two other *_RETENTION_DAYS.
EVENT_LOG_RETENTION_DAYS = env_int("EVENT_LOG_RETENTION_DAYS", 365)
# The audit log (append-only; only `apply_retention` removes old entries), per tenant.
AUDIT_LOG_RETENTION_DAYS = env_int("AUDIT_LOG_RETENTION_DAYS", 730)

# --- Sources -------------------------------------------------------------------------------
# Adapter classes by dotted path; third-party packages may add more through the
# `dictamesh.adapters` entry point group.
DICTAMESH_ADAPTERS = env_list("DICTAMESH_ADAPTERS", default=[
    "apps.adapters.directus.adapter.DirectusAdapter",
    "apps.adapters.products.adapter.ProductsAdapter",
    "apps.adapters.ecommerce.adapter.EcommerceAdapter",
])
# Fernet keys for source credentials at rest: the first encrypts, all decrypt (rotation).
DICTAMESH_CREDENTIALS_KEYS = env_list(
    "DICTAMESH_CREDENTIALS_KEYS", default=[derive_key(SECRET_KEY)] if DEBUG else [])
if not DICTAMESH_CREDENTIALS_KEYS:
    raise ImproperlyConfigured(
        "Set DICTAMESH_CREDENTIALS_KEYS (comma-separated Fernet keys): it is required when "
        "DEBUG is off. Make one with `python -c 'from cryptography.fernet import Fernet; "
        "print(Fernet.generate_key().decode())'`.")
fernet_keys("DICTAMESH_CREDENTIALS_KEYS", DICTAMESH_CREDENTIALS_KEYS)

# --- Calls to sources: circuit breaker and the entity cache ----------------------------------
# A source connection's breaker opens after this many failures in a row (across processes)
# and lets one probe call through after the reset timeout; the probe's lock lasts at most
# the probe timeout, which must exceed a source call's connect + read timeout, or a second
# probe starts while the first still runs (dictamesh.resilience.breaker).
BREAKER_FAIL_MAX = env_int("BREAKER_FAIL_MAX", 5, minimum=1)
BREAKER_RESET_TIMEOUT_SECONDS = env_float("BREAKER_RESET_TIMEOUT_SECONDS", 30.0, minimum=0.001)
BREAKER_PROBE_TIMEOUT_SECONDS = env_float("BREAKER_PROBE_TIMEOUT_SECONDS", 30.0, minimum=0.001)
# The three-level entity cache (dictamesh.cache.tiered): an entry is fresh this long after
# it was fetched; each process re-checks L2 after the L1 TTL even without an invalidation;
# L2 keeps entries for stale serving (source down) this long; L1 holds this many entries,
# and as many expired ones for stale serving.
CACHE_FRESH_SECONDS = env_float("CACHE_FRESH_SECONDS", 300.0, minimum=0.001)
CACHE_L1_TTL_SECONDS = env_float("CACHE_L1_TTL_SECONDS", 30.0, minimum=0.001)
CACHE_STALE_SECONDS = env_float("CACHE_STALE_SECONDS", 86_400.0, minimum=0.001)
CACHE_L1_MAX_ENTRIES = env_int("CACHE_L1_MAX_ENTRIES", 10_000, minimum=1)
CACHE_L1_STALE_MAX_ENTRIES = env_int("CACHE_L1_STALE_MAX_ENTRIES", 10_000, minimum=1)
if CACHE_STALE_SECONDS < CACHE_FRESH_SECONDS:
    raise ImproperlyConfigured(
        f"CACHE_STALE_SECONDS={CACHE_STALE_SECONDS} is below CACHE_FRESH_SECONDS="
        f"{CACHE_FRESH_SECONDS}: L2 would drop entries while they are still fresh.")

# --- GraphQL API ---------------------------------------------------------------------------
GRAPHQL_INTROSPECTION = env_bool("GRAPHQL_INTROSPECTION", default=DEBUG)
GRAPHQL_GRAPHIQL = env_bool("GRAPHQL_GRAPHIQL", default=DEBUG)
GRAPHQL_RATE_LIMIT_PER_MINUTE = env_int("GRAPHQL_RATE_LIMIT_PER_MINUTE", 600, minimum=1)
GRAPHQL_RATE_LIMIT_WINDOW_SECONDS = env_int("GRAPHQL_RATE_LIMIT_WINDOW_SECONDS", 60, minimum=1)
# The rate-limit check is on every request's path: it waits at most this long for Redis,
# then lets the request through (apps/federation/ratelimit.py).
GRAPHQL_RATE_LIMIT_REDIS_TIMEOUT_SECONDS = env_float(
    "GRAPHQL_RATE_LIMIT_REDIS_TIMEOUT_SECONDS", 0.25, minimum=0.001)
# Read answers are cached per tenant, key scope, query and variables; change events end
# them early (apps/federation/invalidation.py), so this bounds only unseen changes.
GRAPHQL_RESPONSE_CACHE_SECONDS = env_int("GRAPHQL_RESPONSE_CACHE_SECONDS", 30)
# A source's observed service level (`sources { sla }`) is measured over this last window;
# its observation records are kept for two windows.
SLA_OBSERVATION_WINDOW_SECONDS = env_int("SLA_OBSERVATION_WINDOW_SECONDS", 7 * 24 * 3600,
                                         minimum=60)
# Automatic persisted queries (Apollo APQ): how long Redis keeps a document a client sent
# with its hash. A miss costs the client one round trip (it resends the text), no error.
GRAPHQL_APQ_SECONDS = env_int("GRAPHQL_APQ_SECONDS", 86400, minimum=1)
# Web processes freeze their start-up heap out of the garbage collector's way and collect
# the young generation every this many allocations (config/wsgi.py, dictamesh/heap.py).
GC_FREEZE_AT_START = env_bool("GC_FREEZE_AT_START", default=True)
GC_GEN0_THRESHOLD = env_int("GC_GEN0_THRESHOLD", 50_000, minimum=1)
# --- GraphQL subscriptions over WebSocket (apps/federation/subscriptions) ---------------------
# Every ASGI process and the `live` consumer group share one channel layer on Redis; each
# process reads it through one channel (apps/federation/subscriptions/hub.py).
# capacity: messages a process' channel holds before new ones are dropped (each socket's
# own queue is GRAPHQL_WS_QUEUE_SIZE); group_expiry: the hub renews its memberships every
# GRAPHQL_WS_KEY_RECHECK_SECONDS, so it must exceed that.
GRAPHQL_WS_INIT_TIMEOUT_SECONDS = env_float("GRAPHQL_WS_INIT_TIMEOUT_SECONDS", 10.0,
                                            minimum=0.001)
GRAPHQL_WS_KEY_RECHECK_SECONDS = env_float("GRAPHQL_WS_KEY_RECHECK_SECONDS", 30.0,
                                           minimum=0.001)
GRAPHQL_WS_SLOT_TTL_SECONDS = max(3 * GRAPHQL_WS_KEY_RECHECK_SECONDS, 60.0)
GRAPHQL_WS_MAX_SUBSCRIPTIONS_PER_KEY = env_int("GRAPHQL_WS_MAX_SUBSCRIPTIONS_PER_KEY", 100,
                                               minimum=1)
GRAPHQL_WS_MESSAGES_PER_SECOND = env_int("GRAPHQL_WS_MESSAGES_PER_SECOND", 50, minimum=1)
GRAPHQL_WS_QUEUE_SIZE = env_int("GRAPHQL_WS_QUEUE_SIZE", 100, minimum=1)
GRAPHQL_WS_THREADS = env_int("GRAPHQL_WS_THREADS", 8, minimum=1)
CHANNEL_LAYERS = {
    "default": {
        "BACKEND": "channels_redis.core.RedisChannelLayer",
        "CONFIG": {
            "hosts": [REDIS_URL],
            "prefix": "dictamesh:live:",
            "capacity": env_int("GRAPHQL_WS_CHANNEL_CAPACITY", 10_000, minimum=1),
            "group_expiry": int(max(86_400, 4 * GRAPHQL_WS_KEY_RECHECK_SECONDS)),
            "expiry": 60,
        },
    },
}
# API keys are stored as HMAC-SHA256 with this pepper; changing it invalidates every key.
# Without it the pepper derives from SECRET_KEY, so rotating SECRET_KEY would do the same.
API_KEY_PEPPER = env_str("API_KEY_PEPPER", default="")

# --- Observability --------------------------------------------------------------------------
SERVICE_NAME = env_str("OTEL_SERVICE_NAME", default="dictamesh")
OTEL_EXPORTER_OTLP_ENDPOINT = env_str("OTEL_EXPORTER_OTLP_ENDPOINT", default="")
LOG_LEVEL = env_str("LOG_LEVEL", default="INFO").upper()
LOG_FORMAT = env_str("LOG_FORMAT", default="json")
LOGGING_CONFIG = "logging.config.dictConfig"
LOGGING = build_logging_config(level=LOG_LEVEL, fmt=LOG_FORMAT)
# The worker's own /metrics (relay and consumer threads live in its main process); 0: off.
WORKER_METRICS_PORT = env_int("WORKER_METRICS_PORT", 9808)
WORKER_METRICS_ADDR = env_str("WORKER_METRICS_ADDR", default="127.0.0.1" if DEBUG else "0.0.0.0")  # noqa: S104
# /metrics answers on the public host only; with a token, only to `Bearer <token>`.
METRICS_BEARER_TOKEN = env_str("METRICS_BEARER_TOKEN", default="")
HEALTH_CHECK_TIMEOUT_SECONDS = float(env_int("HEALTH_CHECK_TIMEOUT_MS", 2000)) / 1000

# --- Auth, i18n, static ---------------------------------------------------------------------
# django-axes refuses sign-ins to an account after repeated failures (admin and registry
# Basic credentials); tenant roles and the platform role become permissions in
# apps.tenancy.roles. The security model is in the README.
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
    "apps.tenancy.roles.TenantRoleBackend",
]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5, minimum=1)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("LOGIN_LOCKOUT_MINUTES", 15, minimum=1))
# By account (guessing one password from many addresses) and by client address (trying
# many accounts). An attacker can lock an account for LOGIN_LOCKOUT_MINUTES; `manage.py
# axes_reset_username` lifts it. Behind N reverse proxies, set LOGIN_TRUSTED_PROXY_COUNT=N
# so the address comes from X-Forwarded-For, not the proxy's (which would lock everyone).
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_IPWARE_PROXY_COUNT = env_int("LOGIN_TRUSTED_PROXY_COUNT", 0, minimum=0) or None
if AXES_IPWARE_PROXY_COUNT:
    AXES_IPWARE_META_PRECEDENCE_ORDER = ("HTTP_X_FORWARDED_FOR", "REMOTE_ADDR")
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_CALLABLE = "apps.tenancy.throttling.lockout_response"
# The registry remembers a verified Basic password this long (a password hash costs ~0.5 s
# per request otherwise); a changed password or a deactivated user ends it at once.
REGISTRY_PASSWORD_CACHE_SECONDS = env_float("REGISTRY_PASSWORD_CACHE_SECONDS", 60.0,
                                            minimum=0.001)
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
