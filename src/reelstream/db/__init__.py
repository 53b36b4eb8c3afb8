"""Metadata database: models, engines (reader / writer), migrations and repositories."""

from reelstream.db.database import Database

__all__ = ["Database"]
