"""tus routes (filled in by the ingest work)."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1/uploads", tags=["uploads"])
