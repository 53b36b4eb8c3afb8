"""media features: captions table; DASH/storyboard/poster facts and the packaged layout on videos

Revision ID: 0003_media
Revises: 0002
Create Date: 2026-11-22 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import reelstream.db.base

revision = "0003_media"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("media", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("layout", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("poster_at_s", sa.Float(), nullable=True))

    op.create_table(
        "captions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("video_id", sa.String(length=16), nullable=False),
        sa.Column("lang", sa.String(length=35), nullable=False),
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("storage_key", sa.String(length=200), nullable=False),
        sa.Column("sha256", sa.String(length=64), nullable=False),
        sa.Column("bytes", sa.Integer(), nullable=False),
        sa.Column("cues", sa.Integer(), nullable=False),
        sa.Column("created_at", reelstream.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", reelstream.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["video_id"],
            ["videos.id"],
            name=op.f("fk_captions_video_id_videos"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_captions")),
        sa.UniqueConstraint("video_id", "lang", name="uq_captions_video_lang"),
    )
    with op.batch_alter_table("captions", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_captions_video_id"), ["video_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("captions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_captions_video_id"))
    op.drop_table("captions")
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_column("poster_at_s")
        batch_op.drop_column("layout")
        batch_op.drop_column("media")
