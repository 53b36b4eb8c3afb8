"""Origin routes (filled in by the delivery work)."""

from fastapi import APIRouter

router = APIRouter(tags=["delivery"])
