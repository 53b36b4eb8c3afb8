"""The media library stays pure: it imports nothing of reelstream but errors and formatting."""

from __future__ import annotations

import ast
from pathlib import Path

import reelstream.media

ALLOWED = ("reelstream.media", "reelstream.errors", "reelstream.formatting")


def test_media_imports_no_application_code() -> None:
    root = Path(reelstream.media.__file__).parent
    found: list[str] = []
    for path in sorted(root.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] == "reelstream" and not name.startswith(ALLOWED):
                    found.append(f"{path.name}: {name}")
    assert found == []
