"""views: videos.view_count, watch_positions (resume points of signed-in users)

Revision ID: 0005_views
Revises: 0004_accounts
Create Date: 2026-11-20 23:40:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import reelstream.db.base

revision = "0005_views"
down_revision = "0004_accounts"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("view_count", sa.BigInteger(), server_default="0", nullable=False)
        )
    op.create_table(
        "watch_positions",
        sa.Column("user_id", sa.String(length=16), nullable=False),
        sa.Column("video_id", sa.String(length=16), nullable=False),
        sa.Column("position_s", sa.Float(), nullable=False),
        sa.Column("updated_at", reelstream.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_watch_positions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_watch_positions_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "video_id", name=op.f("pk_watch_positions")),
    )
    with op.batch_alter_table("watch_positions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_watch_positions_video_id"), ["video_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("watch_positions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_watch_positions_video_id"))
    op.drop_table("watch_positions")
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_column("view_count")
