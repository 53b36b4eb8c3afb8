"""Every message docs/api.md quotes as the server's must be one the server can say.

The quotes taken are the ``"message": "..."`` values of the JSON examples and the lists of
quoted reasons in parentheses (``("no video stream found", "the file is truncated ...")``).
The server's sentences are every string literal and f-string in ``src/reelstream``, read with
``ast``: an f-string becomes a pattern in which each ``{…}`` may be any text (a module-level
string constant it names is put in as it is), concatenated literals are one string. A quote
must match one of them whole, so a doc that paraphrases, shortens or keeps an old wording fails.
"""

from __future__ import annotations

import ast
import re
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
API_DOC = ROOT / "docs" / "api.md"
SOURCE = ROOT / "src" / "reelstream"
MIN_LITERAL = 12  # a pattern with less fixed text than this would match almost anything

pytestmark = pytest.mark.timeout(60)


def doc_quotes(text: str) -> list[str]:
    """The messages docs/api.md presents as the server's (whitespace collapsed)."""
    flat = " ".join(text.split())
    quotes = re.findall(r'"message": "((?:[^"\\]|\\.)+)"', flat)
    for group in re.findall(r'\(("[^"]+"(?:, "[^"]+")*)\)', flat):
        quotes += re.findall(r'"([^"]+)"', group)
    return quotes


def _constants(tree: ast.Module) -> dict[str, str]:
    found: dict[str, str] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and isinstance(node.value.value, str)
        ):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    found[target.id] = node.value.value
    return found


def _pattern(node: ast.JoinedStr, constants: dict[str, str]) -> tuple[str, int]:
    parts: list[str] = []
    fixed = 0
    for value in node.values:
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            parts.append(re.escape(value.value))
            fixed += len(value.value)
        elif (
            isinstance(value, ast.FormattedValue)
            and isinstance(value.value, ast.Name)
            and value.value.id in constants
        ):
            parts.append(re.escape(constants[value.value.id]))
            fixed += len(constants[value.value.id])
        else:
            parts.append(".*?")
    return "".join(parts), fixed


@cache
def server_sentences() -> tuple[set[str], list[re.Pattern[str]]]:
    """The literal strings and the f-string patterns of the server's source."""
    literals: set[str] = set()
    patterns: list[re.Pattern[str]] = []
    for path in SOURCE.rglob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        constants = _constants(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                literals.add(node.value)
            elif isinstance(node, ast.JoinedStr):
                pattern, fixed = _pattern(node, constants)
                if fixed >= MIN_LITERAL:
                    patterns.append(re.compile(pattern, re.DOTALL))
    return literals, patterns


def said_by_the_server(message: str) -> bool:
    literals, patterns = server_sentences()
    if message in literals:
        return True
    if any(p.fullmatch(message) for p in patterns):
        return True
    # a reason prefixed by another sentence ("transcoding failed after 3 attempts: <reason>")
    head, sep, tail = message.partition(": ")
    return bool(sep) and said_by_the_server(tail) and said_by_the_server(head + ": {}")


def test_the_quote_finder_and_the_matcher() -> None:
    text = '{"message": "a b"} and in plain words ("first one", "second\n one") (see "x")'
    assert doc_quotes(text) == ["a b", "first one", "second one"]
    assert said_by_the_server("the file is truncated or corrupt")
    assert said_by_the_server("resolution 20000x20000 exceeds the limit of 7680x4320")
    assert not said_by_the_server("resolution 20000x20000 is over the limit of 7680x4320")
    assert not said_by_the_server("Upload-Offset 100 does not match the 0 bytes received")


def test_every_message_docs_api_md_quotes_is_one_the_server_says() -> None:
    quotes = doc_quotes(API_DOC.read_text())
    assert len(quotes) >= 8, quotes  # the examples are still found
    wrong = [q for q in quotes if not said_by_the_server(q)]
    assert wrong == [], f"docs/api.md quotes messages the server does not say: {wrong}"
