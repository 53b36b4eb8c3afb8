"""Error text is styled wherever a page shows it: every class that templates or page scripts
give to error text or notes (``error``, ``…-error``, ``error-…``, ``notice``) has a rule in
app.css, so no reason is shown as plain body text."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from reelstream.web.render import STATIC_DIR

TEMPLATES = Path(STATIC_DIR).parent / "templates"

pytestmark = pytest.mark.timeout(30)


def used_classes() -> set[str]:
    names: set[str] = set()
    for path in TEMPLATES.glob("*.html"):
        for attr in re.findall(r'class="([^"{]*)"', path.read_text()):
            names.update(attr.split())
    for path in Path(STATIC_DIR).glob("*.js"):
        for attr in re.findall(r'className = "([^"]*)"', path.read_text()):
            names.update(attr.split())
    return {n for n in names if re.fullmatch(r"(.+-)?error(-.+)?|notice", n)}


def test_every_error_class_has_a_style() -> None:
    css = (Path(STATIC_DIR) / "app.css").read_text()
    classes = used_classes()
    assert {"error", "error-box", "stage-error", "last-error", "notice"} <= classes, classes
    unstyled = sorted(c for c in classes if not re.search(rf"\.{re.escape(c)}(?![\w-])", css))
    assert unstyled == [], f"error text without a style: {unstyled}"
