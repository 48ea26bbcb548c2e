"""Record, schema: the Alembic migrations of the request log (run by `gateway.usage.migrate`)."""
