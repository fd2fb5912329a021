"""Piccolo tables, migrations and the tenant-scoped query functions: the only place with SQL."""
