"""Documentation stays in step with the code."""

from __future__ import annotations

from pathlib import Path

from reelstream.config import Settings

DOCS = Path(__file__).resolve().parents[1] / "docs"


def test_every_setting_is_documented() -> None:
    text = (DOCS / "configuration.md").read_text()
    missing = [f for f in Settings.model_fields if f"`REELSTREAM_{f.upper()}`" not in text]
    assert not missing, f"settings missing from docs/configuration.md: {missing}"
