"""qoe: qoe_sessions (one row per player session: its viewer-experience figures)

An expand migration (a new table the previous release ignores). It sits above the contract
``0009_video_description_contract``, so a role's expand applies it once that contract ran
(``reelstream.db.migrate.expand_target``); ``reelstream migrate`` applies both.

Revision ID: 0010_qoe_sessions
Revises: 0009_video_description_contract
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import reelstream.db.base

revision = "0010_qoe_sessions"
down_revision = "0009_video_description_contract"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "qoe_sessions",
        sa.Column("video_id", sa.String(length=16), nullable=False),
        sa.Column("session_id", sa.String(length=64), nullable=False),
        sa.Column("engine", sa.String(length=16), nullable=False),
        sa.Column("started", sa.Boolean(), nullable=False),
        sa.Column("exited", sa.Boolean(), nullable=False),
        sa.Column("startup_s", sa.Float(), nullable=True),
        sa.Column("watch_s", sa.Float(), nullable=False),
        sa.Column("rebuffer_s", sa.Float(), nullable=False),
        sa.Column("rebuffer_count", sa.Integer(), nullable=False),
        sa.Column("switches", sa.Integer(), nullable=False),
        sa.Column("bitrate_bps", sa.BigInteger(), nullable=False),
        sa.Column("upscale_pct", sa.Float(), nullable=False),
        sa.Column("error", sa.String(length=64), nullable=True),
        sa.Column("created_at", reelstream.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", reelstream.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_qoe_sessions_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("video_id", "session_id", name=op.f("pk_qoe_sessions")),
    )
    with op.batch_alter_table("qoe_sessions", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_qoe_sessions_updated_at"), ["updated_at"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("qoe_sessions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_qoe_sessions_updated_at"))
    op.drop_table("qoe_sessions")
