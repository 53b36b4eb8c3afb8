"""Leased rows: the one claim-and-fence mechanism of jobs and webhook deliveries.

A leasable table has ``id``, ``state``, ``attempts``, ``lease_owner`` and ``lease_expires_at``
columns (``db.models.Job``, ``db.models.WebhookDelivery``). ``Leases(model, held=...)`` works
on one such table:

* ``claim`` is one atomic ``UPDATE … WHERE id = (SELECT id … WHERE due ORDER BY … LIMIT 1)
  AND due RETURNING …`` inside the caller's write transaction (``BEGIN IMMEDIATE`` on SQLite;
  ``FOR UPDATE SKIP LOCKED`` in the sub-select on PostgreSQL), so two claimers never hold the
  same row. It moves the row to the ``held`` state, increments ``attempts`` and leases it to
  the claimer until the given expiry.
* ``attempts`` is the fencing token: every later write of the holder (heartbeat, complete,
  fail, release) goes through ``write``, which changes the row only while it is still
  (id, attempts, ``held``). A holder whose lease expired and was taken over changes nothing.
* ``expired(now)`` selects held rows whose lease ran out, for a reaper (jobs) or for the
  claim's own ``due`` condition (webhook deliveries are claimed again directly).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar, Generic, Protocol, TypeVar

from sqlalchemy import ColumnElement, Row, and_, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped


class Leasable(Protocol):
    """The columns a leased table has (an ORM model class)."""

    id: ClassVar[Mapped[int]]
    state: ClassVar[Mapped[str]]
    attempts: ClassVar[Mapped[int]]
    lease_owner: ClassVar[Mapped[str | None]]
    lease_expires_at: ClassVar[Mapped[dt.datetime | None]]


M = TypeVar("M", bound=Leasable)


class Leases(Generic[M]):
    def __init__(self, model: type[M], *, held: str, skip_locked: bool) -> None:
        """``held``: the state of a leased row; ``skip_locked``: lock the picked row with
        ``FOR UPDATE SKIP LOCKED`` (PostgreSQL; SQLite serialises writers instead)."""
        self.model = model
        self.held = held
        self.skip_locked = skip_locked

    async def claim(
        self,
        session: AsyncSession,
        *,
        due: ColumnElement[bool],
        order_by: Sequence[Any],
        owner: str,
        expires_at: dt.datetime,
        values: Mapping[str, Any],
        returning: Sequence[Any],
    ) -> Row[Any] | None:
        """Lease the first ``due`` row in ``order_by`` to ``owner``, writing ``values`` too.
        Returns the row's ``id``, ``attempts`` and the ``returning`` columns; None when
        nothing is due."""
        m = self.model
        pick = select(m.id).where(due).order_by(*order_by).limit(1)
        if self.skip_locked:
            pick = pick.with_for_update(skip_locked=True)
        stmt = (
            update(m)
            .where(m.id == pick.scalar_subquery(), due)
            .values(
                state=self.held,
                attempts=m.attempts + 1,
                lease_owner=owner,
                lease_expires_at=expires_at,
                **values,
            )
            .returning(m.id, m.attempts, *returning)
        )
        return (await session.execute(stmt)).first()

    def fence(self, row_id: int, attempt: int) -> tuple[ColumnElement[bool], ...]:
        """The rows a holder of attempt ``attempt`` of ``row_id`` may still write."""
        m = self.model
        return (m.id == row_id, m.attempts == attempt, m.state == self.held)

    async def write(
        self, session: AsyncSession, row_id: int, attempt: int, values: Mapping[str, Any]
    ) -> bool:
        """Update the row, fenced on the lease. False: the lease was lost."""
        res = await session.execute(
            update(self.model).where(*self.fence(row_id, attempt)).values(**values)
        )
        return bool(res.rowcount)  # type: ignore[attr-defined]

    def expired(self, now: dt.datetime) -> ColumnElement[bool]:
        """Held rows whose lease ran out before ``now``."""
        m = self.model
        return and_(m.state == self.held, m.lease_expires_at < now)
