"""Load scenarios for tenantgraph against a minimal Starlette + asyncpg baseline (make bench)."""
