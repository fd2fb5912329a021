"""Settings: read once from the environment, validated, frozen."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import timedelta
from typing import Any, Literal, TypeVar, cast

from domain import egress, origins, outbound_delivery
from domain.env import ConfigError as ConfigError
from domain.env import address, boolean, choice, parse, url
from domain.errors import Invalid
from domain.secrets import DEV_APP_DATABASE_PASSWORD as DEV_APP_DATABASE_PASSWORD
from domain.secrets import DEV_JWT_SECRET as DEV_JWT_SECRET
from domain.secrets import KNOWN_DEFAULT_SECRETS as KNOWN_DEFAULT_SECRETS
from domain.secrets import MIN_SECRET_BYTES as MIN_SECRET_BYTES
from domain.secrets import Secret as Secret
from domain.secrets import check_secret

Environment = Literal["dev", "test", "production"]
T = TypeVar("T")

SAMPLERS = ("parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio",
            "always_on", "always_off", "traceidratio")
"""OTEL_TRACES_SAMPLER values; all of them follow a caller's sampled `traceparent` here."""
DRAIN_SHARE = 0.75
"""Of SHUTDOWN_GRACE_SECONDS, what work in flight gets to finish after SIGTERM: open requests
and streams (live connections first, see server.draining) in `serve`, running jobs in the
worker. The rest is for cutting off what is left, the relay's last batch and closing pools; a
watchdog forces the process out when the grace is over."""


@dataclasses.dataclass(frozen=True)
class Settings:
    env: Environment = "dev"
    database_url: str | None = None
    app_database_password: Secret = Secret(DEV_APP_DATABASE_PASSWORD)
    redis_url: str | None = None
    jwt_secret: Secret = Secret(DEV_JWT_SECRET)
    host: str = "127.0.0.1"
    port: int = 8000
    data_dir: str = ".data"
    graphiql: bool = True
    introspection: bool = True
    suggestions: bool = True
    max_body_bytes: int = 1_000_000
    webhook_max_body_bytes: int = 262_144
    webhook_replay_window_hours: int = 72
    max_query_depth: int = 12
    max_aliases: int = 30
    max_tokens: int = 3_000
    max_selections: int = 2_000
    validation_budget_ms: int = 500
    max_page_size: int = 100
    db_pool_max: int = 20
    ws_init_timeout: float = 10.0
    ws_keepalive_seconds: float = 15.0
    ws_max_subscriptions: int = 100
    ws_max_message_bytes: int = 65_536
    subscription_buffer: int = 1_000
    live_connections_per_credential: int = 500
    live_connections_per_tenant: int = 2_000
    event_retention_days: int = 7
    audit_retention_days: int = 365
    outbound_retention_days: int = 30
    """OUTBOUND_RETENTION_DAYS: how long succeeded outgoing webhook messages stay in the log."""
    outbound_exhausted_retention_days: int = 90
    """OUTBOUND_EXHAUSTED_RETENTION_DAYS: how long exhausted ones stay (recoverable meanwhile)."""
    traces_exporter: Literal["none", "otlp", "console"] = "none"
    """OTEL_TRACES_EXPORTER, off unless set (and off when OTEL_SDK_DISABLED is true); the SDK
    reads the other OTEL_* variables (endpoint, service name, batching) itself."""
    traces_sample_ratio: float = 1.0
    """OTEL_TRACES_SAMPLER_ARG when OTEL_TRACES_SAMPLER is (parentbased_)traceidratio: the share
    of traces started here that are kept; a caller's sampled `traceparent` is always followed."""
    operation_timeout: float = 30.0
    loop_blocked_warn_seconds: float = 1.0
    loop_blocked_exit_seconds: float = 30.0
    shutdown_grace_seconds: float = 20.0
    heartbeat_seconds: float = 5.0
    trust_tls: bool = False
    db_statement_timeout: float = 30.0
    db_acquire_timeout: float = 5.0
    redis_timeout: float = 0.5
    delivery_batch_size: int = 50
    """DELIVERY_BATCH_SIZE: inbox deliveries of one tenant and flow claimed and applied per transaction."""
    delivery_poll_seconds: float = 1.0
    """DELIVERY_POLL_SECONDS: how often every worker looks for ready deliveries itself."""
    log_format: Literal["text", "json"] = "text"
    log_level: str = "INFO"
    metrics_token: Secret | None = None
    metrics_bind: tuple[str, int] | None = None
    metrics_tenant_label: bool = True
    metrics_tenant_label_cap: int = 100
    limits_on_redis_error: Literal["open", "closed"] = "open"
    """LIMITS_ON_REDIS_ERROR: when the buckets in Redis cannot be asked, admit (`open`, counted
    in redis_errors_total{operation="limits"}) or answer 503 (`closed`)."""
    cors_origins: tuple[str, ...] = ()
    """CORS_ORIGINS: comma-separated origins every tenant's frontends may call from, on top of
    each tenant's own list; `*` alone allows any origin, never with credentials."""
    cors_max_age: int = 600
    api_key_rotation_grace: float = 86_400.0
    """API_KEY_ROTATION_GRACE: seconds a rotated key stays valid beside its successor."""
    idempotency_retention_hours: int = 24
    """IDEMPOTENCY_RETENTION_HOURS: how long a mutation's Idempotency-Key replays its answer."""
    trusted_documents_bypass_platform: bool = True
    """TRUSTED_DOCUMENTS_BYPASS_PLATFORM: platform keys run any document under `enforce`."""
    trusted_documents_bypass_admin: bool = False
    """TRUSTED_DOCUMENTS_BYPASS_ADMIN: a tenant's admin credentials run any document too."""
    persisted_query_max_age: int = 0
    """PERSISTED_QUERY_MAX_AGE: seconds a CDN may keep a GET of a persisted query (0: no-store)."""
    cost_limits: bool = True
    """COST_LIMITS: take each operation's query cost from its tenant's and credential's buckets."""
    cost_extensions: bool = True
    """COST_EXTENSIONS: report `extensions.cost` on every response."""
    max_query_cost: int = 1_000
    cost_bucket_size: float = 1_000.0
    cost_restore_rate: float = 50.0
    cost_credential_bucket_size: float = 1_000.0
    cost_credential_restore_rate: float = 50.0
    limits_lease_fraction: float = 0.05
    """LIMITS_LEASE_FRACTION: each API process takes this share of a bucket (cost budgets,
    webhook ingest) from Redis ahead of its requests (0: ask Redis at every request)."""
    webhook_burst: int = 200
    webhook_rate: float = 50.0
    failed_auth_address_burst: int = 50
    failed_auth_address_rate: float = 0.5
    failed_auth_prefix_burst: int = 10
    failed_auth_prefix_rate: float = 0.1
    ws_init_burst: int = 100
    ws_init_rate: float = 10.0
    subscribe_burst: int = 200
    subscribe_rate: float = 20.0
    live_subscriptions_per_tenant: int = 10_000
    """Request limits where query cost does not apply (server.request_limits; README "Request
    limits"): each *_BURST with its *_RATE (per second) is a leaky bucket; the env variable is
    the field's name in capitals."""
    outbound_allow_networks: tuple[egress.Network, ...] = ()
    """OUTBOUND_ALLOW_NETWORKS: CIDRs webhooks out may reach although refused (loopback...)."""
    outbound_secret_grace_seconds: int = 86_400
    outbound_rate_limit: int = 20
    """OUTBOUND_RATE_LIMIT: requests per second to an endpoint that sets no rate limit."""
    outbound_max_endpoints: int = 20
    stream_token_secret: Secret | None = None
    """STREAM_TOKEN_SECRET: signs stream tokens (domain.stream_tokens); required in production."""
    stream_token_max_ttl_seconds: int = 3_600
    outbound_delivery: outbound_delivery.DeliverySettings = dataclasses.field(
        default_factory=outbound_delivery.DeliverySettings
    )
    """Webhooks out, delivery: the OUTBOUND_* variables of domain.outbound_delivery."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str]) -> Settings:
        env = choice(environ, "TG_ENV", ("dev", "test", "production"), "dev")
        production = env == "production"
        settings = cls(
            env=cast(Environment, env),
            database_url=url(environ, "DATABASE_URL", ("postgres", "postgresql")),
            app_database_password=Secret(
                environ.get("APP_DATABASE_PASSWORD", DEV_APP_DATABASE_PASSWORD)
            ),
            redis_url=url(environ, "REDIS_URL", ("redis", "rediss")),
            jwt_secret=Secret(environ.get("JWT_SECRET", cls.jwt_secret)),
            host=environ.get("HOST", cls.host),
            port=parse(environ, "PORT", int, cls.port, minimum=0, maximum=65535),
            data_dir=environ.get("DATA_DIR", cls.data_dir),
            graphiql=parse(environ, "GRAPHIQL", boolean, not production),
            introspection=parse(environ, "INTROSPECTION", boolean, not production),
            suggestions=parse(environ, "SUGGESTIONS", boolean, not production),
            max_body_bytes=parse(environ, "MAX_BODY_BYTES", int, cls.max_body_bytes, minimum=1),
            webhook_max_body_bytes=parse(
                environ, "WEBHOOK_MAX_BODY_BYTES", int, cls.webhook_max_body_bytes, minimum=1
            ),
            webhook_replay_window_hours=parse(
                environ, "WEBHOOK_REPLAY_WINDOW_HOURS", int, cls.webhook_replay_window_hours,
                minimum=1, maximum=24 * 366,
            ),
            max_query_depth=parse(environ, "MAX_QUERY_DEPTH", int, cls.max_query_depth, minimum=1),
            max_aliases=parse(environ, "MAX_ALIASES", int, cls.max_aliases, minimum=1),
            max_tokens=parse(environ, "MAX_TOKENS", int, cls.max_tokens, minimum=1),
            max_selections=parse(environ, "MAX_SELECTIONS", int, cls.max_selections, minimum=1),
            validation_budget_ms=parse(
                environ, "VALIDATION_BUDGET_MS", int, cls.validation_budget_ms, minimum=1
            ),
            max_page_size=parse(environ, "MAX_PAGE_SIZE", int, cls.max_page_size, minimum=1),
            db_pool_max=parse(environ, "DB_POOL_MAX", int, cls.db_pool_max, minimum=2),
            ws_init_timeout=parse(environ, "WS_INIT_TIMEOUT", float, cls.ws_init_timeout, minimum=0),
            ws_keepalive_seconds=parse(
                environ, "WS_KEEPALIVE_SECONDS", float, cls.ws_keepalive_seconds, minimum=0
            ),
            ws_max_subscriptions=parse(
                environ, "WS_MAX_SUBSCRIPTIONS", int, cls.ws_max_subscriptions, minimum=1
            ),
            ws_max_message_bytes=parse(
                environ, "WS_MAX_MESSAGE_BYTES", int, cls.ws_max_message_bytes, minimum=1
            ),
            subscription_buffer=parse(
                environ, "SUBSCRIPTION_BUFFER", int, cls.subscription_buffer, minimum=1
            ),
            live_connections_per_credential=parse(
                environ, "LIVE_CONNECTIONS_PER_CREDENTIAL", int, cls.live_connections_per_credential,
                minimum=1,
            ),
            live_connections_per_tenant=parse(
                environ, "LIVE_CONNECTIONS_PER_TENANT", int, cls.live_connections_per_tenant, minimum=1
            ),
            event_retention_days=parse(
                environ, "EVENT_RETENTION_DAYS", int, cls.event_retention_days, minimum=1
            ),
            audit_retention_days=parse(
                environ, "AUDIT_RETENTION_DAYS", int, cls.audit_retention_days, minimum=1
            ),
            outbound_retention_days=parse(
                environ, "OUTBOUND_RETENTION_DAYS", int, cls.outbound_retention_days, minimum=1
            ),
            outbound_exhausted_retention_days=parse(
                environ, "OUTBOUND_EXHAUSTED_RETENTION_DAYS", int,
                cls.outbound_exhausted_retention_days, minimum=1,
            ),
            traces_exporter=cast(Literal["none", "otlp", "console"], "none" if parse(
                environ, "OTEL_SDK_DISABLED", boolean, False
            ) else choice(environ, "OTEL_TRACES_EXPORTER", ("none", "otlp", "console"), "none")),
            traces_sample_ratio=_sample_ratio(environ),
            operation_timeout=parse(
                environ, "OPERATION_TIMEOUT", float, cls.operation_timeout, minimum=0
            ),
            loop_blocked_warn_seconds=parse(
                environ, "LOOP_BLOCKED_WARN_SECONDS", float, cls.loop_blocked_warn_seconds,
                minimum=0,
            ),
            loop_blocked_exit_seconds=parse(
                environ, "LOOP_BLOCKED_EXIT_SECONDS", float, cls.loop_blocked_exit_seconds,
                minimum=0,
            ),
            shutdown_grace_seconds=parse(
                environ, "SHUTDOWN_GRACE_SECONDS", float, cls.shutdown_grace_seconds, minimum=1
            ),
            heartbeat_seconds=parse(
                environ, "HEARTBEAT_SECONDS", float, cls.heartbeat_seconds, minimum=0.1
            ),
            trust_tls=parse(environ, "TRUST_TLS", boolean, cls.trust_tls),
            db_statement_timeout=parse(
                environ, "DB_STATEMENT_TIMEOUT", float, cls.db_statement_timeout, minimum=0
            ),
            db_acquire_timeout=parse(
                environ, "DB_ACQUIRE_TIMEOUT", float, cls.db_acquire_timeout, minimum=0
            ),
            redis_timeout=parse(environ, "REDIS_TIMEOUT", float, cls.redis_timeout, minimum=0),
            delivery_batch_size=parse(
                environ, "DELIVERY_BATCH_SIZE", int, cls.delivery_batch_size, minimum=1, maximum=500
            ),
            delivery_poll_seconds=parse(
                environ, "DELIVERY_POLL_SECONDS", float, cls.delivery_poll_seconds, minimum=0.05
            ),
            log_format=cast(
                Literal["text", "json"],
                choice(environ, "LOG_FORMAT", ("text", "json"), "json" if production else "text"),
            ),
            log_level=choice(
                environ, "LOG_LEVEL", ("DEBUG", "INFO", "WARNING", "ERROR"), "INFO"
            ),
            metrics_token=_metrics_token(environ),
            metrics_bind=parse(environ, "METRICS_BIND", address, None),
            metrics_tenant_label=parse(environ, "METRICS_TENANT_LABEL", boolean, True),
            metrics_tenant_label_cap=parse(
                environ, "METRICS_TENANT_LABEL_CAP", int, cls.metrics_tenant_label_cap, minimum=1
            ),
            limits_on_redis_error=cast(
                Literal["open", "closed"],
                choice(environ, "LIMITS_ON_REDIS_ERROR", ("open", "closed"), "open"),
            ),
            cors_origins=_cors_origins(environ),
            cors_max_age=parse(environ, "CORS_MAX_AGE", int, cls.cors_max_age, minimum=0,
                                maximum=86_400),
            api_key_rotation_grace=parse(
                environ, "API_KEY_ROTATION_GRACE", float, cls.api_key_rotation_grace, minimum=0
            ),
            idempotency_retention_hours=parse(
                environ, "IDEMPOTENCY_RETENTION_HOURS", int, cls.idempotency_retention_hours,
                minimum=1, maximum=24 * 366,
            ),
            trusted_documents_bypass_platform=parse(
                environ, "TRUSTED_DOCUMENTS_BYPASS_PLATFORM", boolean, True
            ),
            trusted_documents_bypass_admin=parse(environ, "TRUSTED_DOCUMENTS_BYPASS_ADMIN", boolean, False),
            persisted_query_max_age=parse(
                environ, "PERSISTED_QUERY_MAX_AGE", int, cls.persisted_query_max_age, minimum=0
            ),
            cost_limits=parse(environ, "COST_LIMITS", boolean, cls.cost_limits),
            cost_extensions=parse(environ, "COST_EXTENSIONS", boolean, cls.cost_extensions),
            max_query_cost=parse(environ, "MAX_QUERY_COST", int, cls.max_query_cost, minimum=1),
            cost_bucket_size=parse(
                environ, "COST_BUCKET_SIZE", float, cls.cost_bucket_size, minimum=1
            ),
            cost_restore_rate=parse(
                environ, "COST_RESTORE_RATE", float, cls.cost_restore_rate, minimum=0.001
            ),
            cost_credential_bucket_size=parse(
                environ, "COST_CREDENTIAL_BUCKET_SIZE", float, cls.cost_credential_bucket_size,
                minimum=1,
            ),
            cost_credential_restore_rate=parse(
                environ, "COST_CREDENTIAL_RESTORE_RATE", float, cls.cost_credential_restore_rate,
                minimum=0.001,
            ),
            limits_lease_fraction=parse(
                environ, "LIMITS_LEASE_FRACTION", float, cls.limits_lease_fraction,
                minimum=0, maximum=0.5,
            ),
            **_request_limits(environ),
            **_outbound(environ),
            stream_token_secret=Secret(environ["STREAM_TOKEN_SECRET"])
            if environ.get("STREAM_TOKEN_SECRET") else None,
            stream_token_max_ttl_seconds=parse(environ, "STREAM_TOKEN_MAX_TTL_SECONDS", int,
                                               cls.stream_token_max_ttl_seconds, minimum=1, maximum=86_400),
            outbound_delivery=outbound_delivery.DeliverySettings.from_env(environ),
        )
        settings.check_production()
        return settings

    @property
    def webhook_replay_window(self) -> timedelta:
        """How long a body-signed (X-Hub-Signature-256) delivery's body names that delivery."""
        return timedelta(hours=self.webhook_replay_window_hours)

    def check_production(self) -> None:
        if not self.jwt_secret:
            raise ConfigError("JWT_SECRET: must not be empty")
        if self.env != "production":
            return
        if self.jwt_secret in KNOWN_DEFAULT_SECRETS:
            raise ConfigError("JWT_SECRET: this is a published example value; set a secret of your "
                              "own in production (e.g. `openssl rand -base64 48`)")
        if len(self.jwt_secret.encode()) < MIN_SECRET_BYTES:
            raise ConfigError(f"JWT_SECRET: set a secret of at least {MIN_SECRET_BYTES} bytes "
                              "in production")
        if self.database_url is None or self.redis_url is None:
            raise ConfigError("DATABASE_URL and REDIS_URL: both are required in production")
        check_secret("STREAM_TOKEN_SECRET", self.stream_token_secret)
        if self.app_database_password == DEV_APP_DATABASE_PASSWORD:
            raise ConfigError("APP_DATABASE_PASSWORD: this is the published dev value; set a password "
                              "of your own in production (e.g. `openssl rand -hex 24`)")


REQUEST_LIMITS = (
    "webhook_burst", "webhook_rate", "failed_auth_address_burst", "failed_auth_address_rate",
    "failed_auth_prefix_burst", "failed_auth_prefix_rate", "ws_init_burst", "ws_init_rate",
    "subscribe_burst", "subscribe_rate", "live_subscriptions_per_tenant",
)


def _request_limits(environ: Mapping[str, str]) -> dict[str, Any]:
    """The request limits' settings: counts of at least 1, rates above 0."""
    found: dict[str, Any] = {}
    for name in REQUEST_LIMITS:
        default = getattr(Settings, name)
        found[name] = parse(environ, name.upper(), type(default), default,
                             minimum=1 if isinstance(default, int) else 0.001)
    return found


def _outbound(environ: Mapping[str, str]) -> dict[str, Any]:
    return dict(
        outbound_allow_networks=parse(environ, "OUTBOUND_ALLOW_NETWORKS", egress.networks,
                                        Settings.outbound_allow_networks),
        outbound_secret_grace_seconds=parse(
            environ, "OUTBOUND_SECRET_GRACE_SECONDS", int, Settings.outbound_secret_grace_seconds,
            minimum=0),
        outbound_rate_limit=parse(
            environ, "OUTBOUND_RATE_LIMIT", int, Settings.outbound_rate_limit, minimum=1),
        outbound_max_endpoints=parse(
            environ, "OUTBOUND_MAX_ENDPOINTS", int, Settings.outbound_max_endpoints, minimum=1),
    )


def _cors_origins(environ: Mapping[str, str]) -> tuple[str, ...]:
    try:
        return origins.check_global_list(environ.get("CORS_ORIGINS", "").split(","))
    except Invalid as error:
        raise ConfigError(f"CORS_ORIGINS: {error.message}") from None


def _metrics_token(environ: Mapping[str, str]) -> Secret | None:
    value = environ.get("METRICS_TOKEN") or None
    if value is not None and len(value) < 16:
        raise ConfigError("METRICS_TOKEN: use at least 16 characters")
    return None if value is None else Secret(value)


def _sample_ratio(environ: Mapping[str, str]) -> float:
    sampler = choice(environ, "OTEL_TRACES_SAMPLER", SAMPLERS, "parentbased_always_on")
    if sampler.endswith("traceidratio"):
        return parse(environ, "OTEL_TRACES_SAMPLER_ARG", float, 1.0, minimum=0, maximum=1)
    return 0.0 if sampler.endswith("always_off") else 1.0
