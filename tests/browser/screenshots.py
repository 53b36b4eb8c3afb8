"""Screenshots of the main pages at desktop (1280x800) and phone (390x844) width, for
docs/screenshots/ and its index docs/screenshots.md, so the next person sees what users see.

Taken by ``tests/browser/test_screenshots.py`` when ``REELSTREAM_SCREENSHOTS=<dir>`` is set.
Viewport-sized (not full-page) PNGs keep the files small.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Browser, Page

SIZES: dict[str, dict[str, int]] = {
    "desktop": {"width": 1280, "height": 800},
    "phone": {"width": 390, "height": 844},
}


@dataclass(frozen=True)
class Shot:
    name: str  # the file stem: "watch"
    title: str  # what the index calls it: "Watch page"
    path: str  # "{video}": the video shown


def take(
    browser: Browser,
    base_url: str,
    shots: list[Shot],
    out_dir: Path,
    *,
    video: str,
    sign_in: Callable[[Page], None] | None = None,
) -> list[tuple[str, str, str]]:
    """Open each page at each size (signed in with ``sign_in(page)`` when given) and write
    ``<name>-<size>.png`` into ``out_dir``; returns (title, size, file name) rows."""
    out_dir.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[str, str, str]] = []
    for size, viewport in SIZES.items():
        context = browser.new_context(viewport=viewport)  # type: ignore[arg-type]
        try:
            page: Page = context.new_page()
            if sign_in is not None:
                sign_in(page)
            for shot in shots:
                page.goto(base_url + shot.path.format(video=video))
                page.wait_for_load_state("networkidle")
                _show_controls(page)
                file = f"{shot.name}-{size}.png"
                page.screenshot(path=str(out_dir / file), full_page=False)
                rows.append((shot.title, f"{size} ({viewport['width']} px)", file))
        finally:
            context.close()
    return rows


def _show_controls(page: Page) -> None:
    """On a page with the player: paused, with the pointer on it, so its control bar shows."""
    player = page.locator("media-controller")
    if player.count() == 0:
        return
    page.wait_for_function("() => document.querySelector('video').currentTime > 0.5")
    page.evaluate("() => document.querySelector('video').pause()")
    box = player.bounding_box()
    if box is not None:
        page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.wait_for_timeout(300)


def write_index(index: Path, rows: list[tuple[str, str, str]], image_dir: str) -> None:
    """docs/screenshots.md: one table row per picture."""
    lines = [
        "# Screenshots",
        "",
        "The main pages at desktop and phone width, taken by `tests/browser/test_screenshots.py`",
        "(`REELSTREAM_SCREENSHOTS=docs/screenshots pytest tests/browser/test_screenshots.py`),",
        "not by hand: run it again after changing a page.",
        "",
        "| Page | Width | File |",
        "|---|---|---|",
    ]
    lines += [f"| {title} | {size} | [{file}]({image_dir}/{file}) |" for title, size, file in rows]
    index.write_text("\n".join(lines) + "\n")
