"""Request limits where query cost does not apply (README "Request limits"), built once per
process by create_app on its buckets:

- webhook ingest per endpoint (here), spent only by deliveries whose signature verified;
- failed authentications per client address and per API key prefix (server.failed_auth);
- connection_init and subscribe rates per credential and live subscriptions per tenant
  (server.live_limits).

A rate is a leaky bucket in Redis (server.buckets) shared by every process, and its key names
the tenant whenever the limit is a tenant's. A refusal is a 429 that names the limit
(server.refusals), counted in rate_limited_total{limit,tenant}; the limits in force are the
request_limit{limit,parameter} gauge.
"""

from __future__ import annotations

from domain import webhooks
from domain.config import Settings
from server.buckets import Buckets
from server.failed_auth import FailedAuthentications
from server.leases import Leases
from server.live_limits import LiveLimits
from server.refusals import Rate, RateLimited, over
from telemetry import metrics


class RequestLimits:
    """Every request limit of this module's docstring; with no `buckets`, only the count of
    live subscriptions (tests of other things)."""

    def __init__(self, buckets: Buckets | None, settings: Settings) -> None:
        self.failures = FailedAuthentications(buckets, settings)
        self.live = LiveLimits(buckets, settings, self.failures)
        self.webhooks = WebhookLimits(buckets, settings, self.failures)

    def publish(self) -> None:
        """Show the limits in force in /metrics."""
        rates = (self.webhooks.per_endpoint, self.failures.per_address, self.failures.per_prefix,
                 self.live.init_rate, self.live.subscribe_rate)
        for rate in rates:
            metrics.REQUEST_LIMITS.labels(rate.name, "burst").set(rate.burst)
            metrics.REQUEST_LIMITS.labels(rate.name, "rate_per_second").set(rate.rate)
        metrics.REQUEST_LIMITS.labels("live_subscriptions", "per_tenant").set(
            self.live.subscriptions.per_tenant
        )


class WebhookLimits:
    """Deliveries per webhook endpoint (WEBHOOK_BURST, WEBHOOK_RATE per second), and the
    failed-authentication limits that bad signatures count against."""

    def __init__(
        self, buckets: Buckets | None, settings: Settings, failures: FailedAuthentications | None = None
    ) -> None:
        self._leases = None if buckets is None else Leases(
            buckets, fraction=settings.limits_lease_fraction
        )
        self.failures = failures or FailedAuthentications(None, settings)
        self.per_endpoint = Rate("webhook_endpoint", settings.webhook_burst, settings.webhook_rate)

    async def close(self) -> None:
        """Gives back what this process leased of the endpoints' buckets (shutdown)."""
        if self._leases is not None:
            await self._leases.close()

    async def take(self, endpoint: webhooks.Endpoint) -> None:
        """One delivery of `endpoint`; RateLimited when its bucket is empty."""
        if self._leases is None:
            return
        taken = await self._leases.take((self.per_endpoint.bucket(endpoint.tenant_id, endpoint.id),), 1)
        if taken is not None and not taken.fits:
            raise over(RateLimited, self.per_endpoint, taken.levels[0],
                       f"too many deliveries to this {endpoint.flow} endpoint", endpoint.tenant_slug)
