"""Tenant extensions: values that add root fields, extend types and override services."""
