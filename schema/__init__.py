"""Strawberry types per domain, tenant extensions, and per-tenant schema assembly."""
