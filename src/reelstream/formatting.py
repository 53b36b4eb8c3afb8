"""Formatting shared by the pages, the CLI and user-facing error messages."""

from __future__ import annotations


def clock(seconds: float | None, missing: str = "—") -> str:
    """``75.4`` -> ``1:15``; ``3725`` -> ``1:02:05``; ``None`` -> ``missing``."""
    if seconds is None:
        return missing
    total = round(seconds)
    h, rest = divmod(total, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def human_bytes(n: int) -> str:
    """``1288490189`` -> ``1.2 GiB``; ``0`` -> ``0 B``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            if unit == "B":
                return f"{int(value)} B"
            return f"{value:.1f}".removesuffix(".0") + f" {unit}"
        value /= 1024
    raise AssertionError("unreachable")
