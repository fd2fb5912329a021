"""The ASGI edge (create_app), the embedded development services and the CLI."""
