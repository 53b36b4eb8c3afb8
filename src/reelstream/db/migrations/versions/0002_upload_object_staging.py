"""uploads staged in the object store: multipart state and a cross-instance write lock

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-21 09:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import reelstream.db.base

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # batch mode: SQLite rebuilds the table, PostgreSQL runs plain ALTER TABLE
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.add_column(sa.Column("multipart_id", sa.String(length=255), nullable=True))
        batch_op.add_column(sa.Column("parts", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("lock_token", sa.String(length=32), nullable=True))
        batch_op.add_column(
            sa.Column("locked_until", reelstream.db.base.UTCDateTime(timezone=True), nullable=True)
        )


def downgrade() -> None:
    with op.batch_alter_table("uploads", schema=None) as batch_op:
        batch_op.drop_column("locked_until")
        batch_op.drop_column("lock_token")
        batch_op.drop_column("parts")
        batch_op.drop_column("multipart_id")
