"""video description, contract phase: backfill NULL -> '' and make it NOT NULL DEFAULT ''

Contract half of ``0008_video_description``. Run only once every role runs code that knows the
column (``reelstream migrate --phase contract``; ``reelstream.db.migrate.CONTRACT_REVISIONS``
names it): after it, a row can no longer hold NULL. The server default keeps inserts of code
that does not name the column valid, so even a role of the previous release still running
would not fail, but it is no longer a supported rollback target (docs/deploy.md).

On PostgreSQL this runs outside Alembic's transaction (``autocommit_block``), statement by
statement, so no lock is held longer than one statement: the backfill goes in batches of
``BATCH`` rows, the NOT NULL is proved by a CHECK constraint added NOT VALID (a brief lock)
and validated separately (a SHARE UPDATE EXCLUSIVE lock, under which reads and writes go on),
so ``SET NOT NULL`` then needs no table scan under its ACCESS EXCLUSIVE lock (PostgreSQL 12+).
Every step is idempotent: a run cut short can be run again. SQLite (one writer, small tables)
does it in one batch table rebuild.

Revision ID: 0009_video_description_contract
Revises: 0008_video_description
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009_video_description_contract"
down_revision = "0008_video_description"
branch_labels = None
depends_on = None

_CHECK = "ck_videos_description_not_null"
BATCH = 5000


def upgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        with op.get_context().autocommit_block():
            _contract_postgres()
        return
    op.execute("UPDATE videos SET description = '' WHERE description IS NULL")
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.alter_column(
            "description", existing_type=sa.Text(), nullable=False, server_default=""
        )


def _contract_postgres() -> None:
    bind = op.get_bind()
    op.execute("ALTER TABLE videos ALTER COLUMN description SET DEFAULT ''")
    backfill = sa.text(
        "UPDATE videos SET description = '' WHERE id IN "
        "(SELECT id FROM videos WHERE description IS NULL LIMIT :n)"
    )
    while bind.execute(backfill, {"n": BATCH}).rowcount:
        pass  # bounded: every round fills up to BATCH of the finitely many NULL rows
    op.execute(f"ALTER TABLE videos DROP CONSTRAINT IF EXISTS {_CHECK}")
    op.execute(
        f"ALTER TABLE videos ADD CONSTRAINT {_CHECK} CHECK (description IS NOT NULL) NOT VALID"
    )
    op.execute(f"ALTER TABLE videos VALIDATE CONSTRAINT {_CHECK}")
    op.execute("ALTER TABLE videos ALTER COLUMN description SET NOT NULL")
    op.execute(f"ALTER TABLE videos DROP CONSTRAINT {_CHECK}")


def downgrade() -> None:
    with op.batch_alter_table("videos", schema=None) as batch_op:
        batch_op.alter_column(
            "description", existing_type=sa.Text(), nullable=True, server_default=None
        )
