"""Run Alembic migrations programmatically (the same migrations on SQLite and PostgreSQL).

Schema changes that old and new code must both survive are split in two (docs/deploy.md,
"Rolling upgrades"): an *expand* migration that only adds (a nullable column, a table, an
index) and that the previous release ignores, and a *contract* migration that removes or
tightens (NOT NULL, a dropped column) and is run only once every role runs the new code.
``CONTRACT_REVISIONS`` names the contract migrations explicitly; every other one is expand.

* ``upgrade(url, phase="all")``: everything up to head (a new database, ``reelstream serve``
  and ``reelstream migrate``);
* ``phase="expand"``: up to the newest revision below the first pending contract migration.
  The api and worker roles apply this at start, so starting a new release never contracts
  the schema under the previous one still running;
* ``phase="contract"``: to head (after expand).

A database a newer release has already migrated past what this code knows is left alone by
the roles' automatic upgrade (``tolerate_newer``): that is the state of a rollback after an
expand, and the previous release must still start then.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Literal

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy.ext.asyncio import create_async_engine

from reelstream.db.database import normalize_url

MIGRATIONS = Path(__file__).parent / "migrations"
CONTRACT_REVISIONS = frozenset({"0009_video_description_contract"})
"""Revisions that must wait until no role of the previous release runs."""

MIGRATION_LOCK = 0x7265656C  # "reel": the PostgreSQL advisory lock a migration run holds
"""Key of the advisory lock that serialises migration runs on PostgreSQL (``migrations/env.py``)."""

Phase = Literal["expand", "contract", "all"]
PHASES: tuple[Phase, ...] = ("expand", "contract", "all")
log = logging.getLogger(__name__)


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return cfg


def expand_target(script: ScriptDirectory, applied: set[str] | None = None) -> str:
    """The newest revision with no *pending* contract migration at or below it.

    A contract migration is pending until the database (``applied``: its revisions) is at or
    past it. So on a database that has not run a contract yet, expand stops below it, and so
    does everything written above it (it waits for the contract); once the contract ran, the
    expand migrations added on top of it are applied by expand like any other."""
    heads = script.get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads: merge them first")
    done: set[str] = set()
    for r in applied or set():
        done |= _ancestors(script, r)
    pending = CONTRACT_REVISIONS - done
    for rev in script.walk_revisions():  # from head down
        if not _ancestors(script, rev.revision) & pending:
            return rev.revision
    raise RuntimeError("every migration is a contract migration")


def current_revisions(database_url: str) -> set[str]:
    """The revisions the database is stamped with (empty for a new database)."""
    import anyio

    async def read() -> set[str]:
        engine = create_async_engine(normalize_url(database_url))
        try:
            async with engine.connect() as conn:
                if not await conn.run_sync(lambda c: sa.inspect(c).has_table("alembic_version")):
                    return set()
                rows = await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
                return {str(r[0]) for r in rows}
        finally:
            await engine.dispose()

    return anyio.run(read)


def upgrade(database_url: str, phase: Phase = "all", *, tolerate_newer: bool = False) -> None:
    """Bring the schema to the end of ``phase``. Must be called outside a running event loop.

    ``tolerate_newer``: when the database is at a revision this code does not know (a newer
    release migrated it), log it and do nothing instead of failing."""
    cfg = alembic_config(database_url)
    script = ScriptDirectory.from_config(cfg)
    if tolerate_newer:
        unknown = {r for r in current_revisions(database_url) if not _known(script, r)}
        if unknown:
            log.warning("database is at %s, newer than this release: not migrating", unknown)
            return
    if phase == "expand":
        applied = current_revisions(database_url)
        target = expand_target(script, {r for r in applied if _known(script, r)})
        if any(target in _ancestors(script, r) for r in applied):
            return  # already at or past the expand target (e.g. contracted)
        command.upgrade(cfg, target)
        return
    command.upgrade(cfg, "head")


def _known(script: ScriptDirectory, revision: str) -> bool:
    try:
        script.get_revision(revision)
    except CommandError:
        return False
    return True


def _ancestors(script: ScriptDirectory, revision: str) -> set[str]:
    return {r.revision for r in script.iterate_revisions(revision, "base")}
