"""The GraphiQL page: Strawberry's, with its subscriptions sent to the tenant the page names.

A WebSocket upgrade finds its tenant in `?tenant=<slug>` or the host's subdomain (see
server.ws_protocol), and the credential in `connection_init`, where GraphiQL puts the headers of
its editor. Strawberry's page opens the WebSocket at the page's URL without its query string, so
`/graphql?tenant=acme` would subscribe without a tenant: here the page passes `tenant` on."""

from __future__ import annotations

import functools

from strawberry.http.ides import get_graphql_ide_html

SUBSCRIPTION_URL = "const subscriptionUrl = httpUrlToWebSockeUrl(fetchURL);"
WITH_TENANT = (
    "const subscriptionUrl = httpUrlToWebSockeUrl(fetchURL) +"
    ' (parameters.tenant ? "?tenant=" + encodeURIComponent(parameters.tenant) : "");'
)


@functools.cache
def graphiql_page() -> str:
    """The page served on GET /graphql for a browser; its inline script's hash is in the policy
    of server.headers, computed from this same text."""
    html = get_graphql_ide_html("graphiql")
    if SUBSCRIPTION_URL not in html:
        raise RuntimeError("Strawberry's GraphiQL page changed: its subscription URL cannot be set")
    return html.replace(SUBSCRIPTION_URL, WITH_TENANT)
