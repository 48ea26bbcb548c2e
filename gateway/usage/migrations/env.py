"""Record, schema: Alembic's environment, fed the connection by `gateway.usage.migrate`.

Migrations only run through `gateway.usage.migrate` (at the gateway's start, or its `new`
command), which passes an open connection in `config.attributes["connection"]`; there is no
alembic.ini and no URL here. SQLite gets batch mode: it alters a table by copying it.
"""

from typing import Any, Literal

from alembic import context

from gateway.usage.schema import UTCDateTime, metadata


def render_item(kind: str, obj: Any, autogen_context: Any) -> str | Literal[False]:
    """Revisions stand alone: the gateway's own column types are written as what they store."""
    if kind == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime()"  # UTC, naive: the conversion is the application's, not the DDL's
    return False


connection = context.config.attributes.get("connection")
if connection is None:
    raise RuntimeError("run migrations with `python -m gateway.usage.migrate`, not `alembic`")

context.configure(
    connection=connection,
    target_metadata=metadata,
    render_as_batch=connection.dialect.name == "sqlite",
    compare_type=True,
    render_item=render_item,
)
with context.begin_transaction():
    context.run_migrations()
