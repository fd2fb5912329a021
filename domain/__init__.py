"""Pure business rules: tenancy, credentials, catalog, errors and configuration. No frameworks."""
