"""Piccolo's configuration module (PICCOLO_CONF=tables.piccolo_conf), for its migration CLI.

`piccolo migrations new tenantgraph --auto` reads DATABASE_URL (the owner role) from here;
the app itself configures the engine in its lifespan.
"""

import os

from piccolo.conf.apps import AppRegistry

from tables.engine import DB, configure

__all__ = ["DB", "APP_REGISTRY"]

# Only for the standalone CLI: inside the app or a test the engine is configured already.
if not DB.config and os.environ.get("DATABASE_URL"):
    configure(os.environ["DATABASE_URL"])

APP_REGISTRY = AppRegistry(apps=["tables.piccolo_app"])
