"""Video endpoints (filled in by the API work)."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1", tags=["videos"])
