"""Metadata database: models, engines (reader / writer) and migrations."""

from reelstream.db.database import Database

__all__ = ["Database"]
