"""timeline: jobs.payload / stages / started_at, users.quota_bytes, workers

Revision ID: 0007_timeline
Revises: 0006_merge
Create Date: 2026-11-21
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import reelstream.db.base

revision = "0007_timeline"
down_revision = "0006_merge"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.add_column(sa.Column("payload", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("stages", sa.JSON(), nullable=True))
        batch_op.add_column(
            sa.Column("started_at", reelstream.db.base.UTCDateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("quota_bytes", sa.BigInteger(), nullable=True))
    op.create_table(
        "workers",
        sa.Column("id", sa.String(length=100), nullable=False),
        sa.Column("host", sa.String(length=255), nullable=False),
        sa.Column("pid", sa.Integer(), nullable=False),
        sa.Column("slots", sa.Integer(), nullable=False),
        sa.Column("running", sa.Integer(), nullable=False),
        sa.Column("started_at", reelstream.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("heartbeat_at", reelstream.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("stopped_at", reelstream.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workers")),
    )


def downgrade() -> None:
    op.drop_table("workers")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("quota_bytes")
    with op.batch_alter_table("jobs", schema=None) as batch_op:
        batch_op.drop_column("started_at")
        batch_op.drop_column("stages")
        batch_op.drop_column("payload")
