"""The GraphiQL page: Strawberry's, with its subscriptions sent to the tenant the page names
and a toolbar button that downloads the tenant's SDL.

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


PROPS = "inputValueDeprecation: true,"
WITH_DOWNLOAD = PROPS + " toolbar: { additionalContent: downloadButton(headers) },"
DOWNLOAD = """
      // The tenant's SDL (GET /schema.graphql, admins), fetched with the headers of the editor.
      function downloadButton(headers) {
        return React.createElement("button", {
          type: "button", className: "graphiql-un-styled graphiql-toolbar-button",
          title: "Download the schema (SDL)", "aria-label": "Download the schema (SDL)",
          "data-download-sdl": "", onClick: () => downloadSchema(headers),
        }, "SDL");
      }

      async function downloadSchema(headers) {
        let sent;
        try {
          sent = headers ? JSON.parse(headers) : {};
        } catch (error) {
          alert("The headers are not JSON: " + error.message);
          return;
        }
        const url = new URL("schema.graphql", fetchURL);
        if (parameters.tenant) url.searchParams.set("tenant", parameters.tenant);
        const response = await fetch(url, { headers: sent });
        if (!response.ok) {
          const problem = await response.json().catch(() => ({}));
          alert(problem.detail || "The schema cannot be downloaded: HTTP " + response.status);
          return;
        }
        const name = /filename="([^"]+)"/.exec(response.headers.get("content-disposition") || "");
        const link = document.createElement("a");
        link.href = URL.createObjectURL(await response.blob());
        link.download = name ? name[1] : "schema.graphql";
        link.click();
        URL.revokeObjectURL(link.href);
      }
"""


@functools.cache
def graphiql_page() -> str:
    """The page served on GET /graphql for a browser; its inline script's hash is in the policy
    of server.headers, computed from this same text."""
    html = get_graphql_ide_html("graphiql")
    if SUBSCRIPTION_URL not in html or html.count(PROPS) != 1:
        raise RuntimeError("Strawberry's GraphiQL page changed: it cannot be given the tenant's "
                           "subscription URL and schema download")
    html = html.replace(SUBSCRIPTION_URL, WITH_TENANT + DOWNLOAD)
    return html.replace(PROPS, WITH_DOWNLOAD)
