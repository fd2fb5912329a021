"""Failed authentications per client address and per API key prefix.

Authenticating a credential that the API key cache does not hold takes a database
transaction. Once an address has failed FAILED_AUTH_ADDRESS_BURST times, or a key prefix
FAILED_AUTH_PREFIX_BURST times, the next attempt is answered 429 TOO_MANY_FAILED_AUTHENTICATIONS
before any lookup; failures are forgiven at the *_RATE per second. The check is one Redis call
where a lookup would follow, so a valid key served from the cache pays nothing. Bad webhook
signatures and deliveries to endpoints that do not exist count against the address too.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

from domain import credentials
from domain.config import Settings
from domain.errors import Unauthenticated
from server.buckets import Bucket, Buckets, Taken
from server.refusals import Rate, TooManyFailedAuthentications, over


class FailedAuthentications:
    """The failed-authentication limits; with no `buckets`, none (nothing is counted)."""

    def __init__(self, buckets: Buckets | None, settings: Settings) -> None:
        self._buckets = buckets
        self.per_address = Rate(
            "failed_auth_address", settings.failed_auth_address_burst, settings.failed_auth_address_rate
        )
        self.per_prefix = Rate(
            "failed_auth_key_prefix", settings.failed_auth_prefix_burst, settings.failed_auth_prefix_rate
        )

    @contextlib.asynccontextmanager
    async def guard(self, address: str, authorization: str | None) -> AsyncIterator[None]:
        """Around the lookup of the credential in `authorization`: refused before it when the
        address or the key prefix has no failure left; an Unauthenticated from it counted.
        Without a bearer token there is nothing to look up, and nothing is counted."""
        token = _token(authorization)
        if token is None:
            yield
            return
        buckets = self.of(address, token)
        await self.check(buckets)
        try:
            yield
        except Unauthenticated:
            await self.failed(buckets)
            raise

    def of(self, address: str, token: str | None = None) -> list[Bucket]:
        """The buckets of a client address and, for an API key, of its prefix."""
        buckets = [self.per_address.bucket(address)]
        parsed = credentials.parse(token) if token else None
        if parsed is not None:
            buckets.append(self.per_prefix.bucket(parsed[0]))
        return buckets

    async def check(self, buckets: list[Bucket]) -> None:
        """TooManyFailedAuthentications when one of `buckets` has no failure left."""
        if self._buckets is not None:
            self._refuse_when_empty(await self._buckets.take(buckets, 0))

    async def failed(self, buckets: list[Bucket]) -> None:
        """Count a failure; TooManyFailedAuthentications when it no longer fits (another
        request, maybe in another process, took the last one meanwhile)."""
        if self._buckets is not None:
            taken = await self._buckets.take(buckets, 1)
            if taken is not None and not taken.fits:
                self._refuse_when_empty(taken)

    def _refuse_when_empty(self, taken: Taken | None) -> None:
        if taken is None:  # Redis did not answer and the limits fail open
            return
        for level, rate in zip(taken.levels, (self.per_address, self.per_prefix), strict=False):
            if level.available < 1:
                what = "from this address" if rate is self.per_address else "with this API key prefix"
                raise over(TooManyFailedAuthentications, rate, level,
                           f"too many failed authentications {what}", None) from None


def _token(authorization: str | None) -> str | None:
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    return token if scheme.lower() == "bearer" and token else None
