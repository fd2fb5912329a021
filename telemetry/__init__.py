"""Metrics and traces: what operators see of tenantgraph."""
