"""The request log as the gateway wrote it before migrations: requests, attempts, feedback.

Revision 0001, the first. Logs made before migrations existed were created by
`metadata.create_all` and grown by ad-hoc `ADD COLUMN`s, so they come in several shapes and
have no `alembic_version` table. This revision therefore creates what is missing rather than
assuming an empty database: absent tables are created, absent columns and indexes added, and
rows already there are left as they are. Every later revision is an ordinary one.
"""

from collections.abc import Callable

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _requests() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.String(128), primary_key=True),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("api_key", sa.String(255)),
        sa.Column("requested_model", sa.String(255)),
        sa.Column("model", sa.String(255)),
        sa.Column("provider", sa.String(255)),
        sa.Column("task", sa.String(64)),
        sa.Column("complexity", sa.Integer()),
        sa.Column("profile", sa.String(64)),
        sa.Column("stream", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("http_status", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer()),
        sa.Column("completion_tokens", sa.Integer()),
        sa.Column("cost_usd", sa.Float()),
        sa.Column("cost_note", sa.Text()),
        sa.Column("latency_ms", sa.Float()),
        sa.Column("ttft_ms", sa.Float()),
        sa.Column("overhead_ms", sa.Float()),
        sa.Column("routing_reason", sa.Text()),
        sa.Column("usage_json", sa.Text()),
        sa.Column("features_json", sa.Text()),
        sa.Column("endpoint", sa.String(32)),
        sa.Column("experiment", sa.String(255)),
        sa.Column("arm", sa.String(255)),
        sa.Column("tokens_estimated", sa.Boolean()),
        sa.Column("resumed", sa.Boolean()),
    ]


def _attempts() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("n", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(255)),
        sa.Column("provider", sa.String(255)),
        sa.Column("status", sa.String(16)),
        sa.Column("http_status", sa.Integer()),
        sa.Column("error", sa.Text()),
        sa.Column("latency_ms", sa.Float()),
        sa.Column("cost_usd", sa.Float()),
        sa.Column("started_at", sa.DateTime()),
    ]


def _feedback() -> list[sa.Column[object]]:
    return [
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=True),
        sa.Column("request_id", sa.String(128), nullable=False),
        sa.Column("created_at", sa.DateTime(), nullable=False),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("score", sa.Float()),
        sa.Column("rating", sa.Integer()),
    ]


TABLES: list[tuple[str, Callable[[], list[sa.Column[object]]], dict[str, str]]] = [
    ("requests", _requests, {"ix_requests_created_at": "created_at", "ix_requests_model": "model",
                             "ix_requests_api_key": "api_key"}),
    ("attempts", _attempts, {"ix_attempts_request_id": "request_id"}),
    ("feedback", _feedback, {"ix_feedback_request_id": "request_id"}),
]


def upgrade() -> None:
    insp = sa.inspect(op.get_bind())
    tables = set(insp.get_table_names())
    for name, columns, indexes in TABLES:
        if name not in tables:
            op.create_table(name, *columns())
            have_indexes: set[str] = set()
        else:
            have = {c["name"] for c in insp.get_columns(name)}
            for column in columns():
                if column.name not in have:
                    # Logs before migrations only ever lacked nullable columns; a NOT NULL one
                    # could not be added to a table with rows anyway.
                    column.nullable = True
                    op.add_column(name, column)
            have_indexes = {str(i["name"]) for i in insp.get_indexes(name)}
        for index, column_name in indexes.items():
            if index not in have_indexes:
                op.create_index(index, name, [column_name])


def downgrade() -> None:
    for name, _, _ in reversed(TABLES):
        op.drop_table(name)
