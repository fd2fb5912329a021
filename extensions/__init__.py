"""Tenant extensions: each a package of its own (`extensions.<slug>`), installed by naming it
in the `tenantgraph.extensions` entry points of pyproject.toml. Core packages never import one.

A package holds `SPEC` (slug, required modules; domain-level, in its `__init__`), its
`schema.EXTENSION` (root fields, type and service overrides), and optionally `seed.DEMO`
(a demo tenant for `make run`). Inside, it is layered like the core: schema → resolvers →
tables → its domain rules."""
