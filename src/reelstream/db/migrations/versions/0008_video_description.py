"""video description, expand phase: a nullable videos.description

Expand half of an expand/contract change (docs/deploy.md, "Rolling upgrades"): the column is
added nullable and without a default, so code that does not know it (the previous release,
still serving while the roles are replaced) keeps reading and inserting rows unchanged. Code
that knows it treats NULL as "". The contract half is ``0009_video_description_contract``.

Revision ID: 0008_video_description
Revises: 0007_timeline
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008_video_description"
down_revision = "0007_timeline"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.add_column(sa.Column("description", sa.Text(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.drop_column("description")
