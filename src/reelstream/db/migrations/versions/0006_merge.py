"""merge the views and webhooks branches

Revision ID: 0006_merge
Revises: 0005_views, 0005_webhooks
Create Date: 2026-11-20
"""

from __future__ import annotations

revision = "0006_merge"
down_revision = ("0005_views", "0005_webhooks")
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
