"""The docs' evidence links stay honest: every file, test and section they cite exists.

docs/design.md backs each claim with a link to the test, benchmark or doc section that proves
it; the other docs cite tests the same way. A renamed test, a moved file or a reworded heading
would silently turn such a claim into an unbacked one, so this test reads every markdown file
of the project (``README.md`` and ``docs/*.md``) and checks:

- every relative link ``[text](target)`` (images included) points to an existing file or
  folder, resolved from the markdown file's folder (a leading ``/`` means the repository root);
- a link whose text names a test, ``file.py::name`` (backticks allowed, ``::Class::method`` for
  a method, a ``[param]`` suffix for one case of a parametrised test), names a function or class
  that the linked file defines (read with ``ast``, never imported), and ``file.py`` is the
  linked file's name;
- an ``#anchor`` into a markdown file (or into the same file) is the GitHub slug of one of its
  headings; ``#L12`` / ``#L12-L20`` into another file is a line it has (any other anchor there
  is refused: GitHub ignores it, so it names nothing);
- a code span that cites a repository path (`` `tests/...` ``, `` `benchmarks/...` ``,
  `` `src/...` ``, optionally ``::name`` or ``:name``) names an existing path and definitions.

The markdown reading is hand-written (a few regular expressions, fenced blocks skipped) rather
than a markdown library: only inline links, code spans and ATX headings matter here, and a
library would be one more pinned dependency for a ~5 ms check.
"""

from __future__ import annotations

import ast
import re
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^\s{0,3}(```|~~~)")
_HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
# [text](target "title"): the text may hold one level of brackets (a test's [param])
_LINK = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_HTML_ANCHOR = re.compile(r"<a\s+(?:name|id)=\"([^\"]+)\"")
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")
_LINE_ANCHOR = re.compile(r"^L(\d+)(?:-L(\d+))?$")
_TEST_TEXT = re.compile(r"^`?([\w./-]+\.py)((?:::[\w]+(?:\[[^\]]*\])?)+)`?$")
_REPO_PATH = re.compile(r"^((?:tests|benchmarks|src)/[\w./-]*?)((?:::\w+)+|:\w+)?$")


def markdown_files() -> list[Path]:
    """Every markdown file the project's docs consist of."""
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


@dataclass(frozen=True)
class Link:
    source: Path
    line: int
    text: str
    target: str

    def where(self) -> str:
        return f"{self.source.relative_to(ROOT)}:{self.line}: [{self.text}]({self.target})"


def prose_lines(path: Path) -> Iterator[tuple[int, str]]:
    """(line number, text) of every line outside fenced code blocks."""
    fence: str | None = None
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        opened = _FENCE.match(line)
        if fence is None and opened:
            fence = opened.group(1)
        elif fence is not None:
            if line.strip().startswith(fence):
                fence = None
        else:
            yield number, line


def code_spans(line: str) -> list[tuple[int, int, str]]:
    """(start, end, content) of the inline code spans of a line."""
    return [(m.start(), m.end(), m.group(2).strip()) for m in _CODE_SPAN.finditer(line)]


def links_of(path: Path) -> Iterator[Link]:
    for number, line in prose_lines(path):
        spans = code_spans(line)
        for match in _LINK.finditer(line):
            if any(start <= match.start() < end for start, end, _ in spans):
                continue  # a link written inside a code span is text, not a link
            yield Link(path, number, match.group(1), match.group(2))


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: markup dropped, lower case, punctuation removed but
    ``-`` and ``_``, each space a ``-``."""
    text = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # a link keeps its text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "")
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """The anchors GitHub gives a markdown file: heading slugs (repeats get ``-1``, ``-2``...)
    and explicit ``<a name|id="...">``."""
    seen: dict[str, int] = {}
    found: set[str] = set()
    for _, line in prose_lines(path):
        found.update(_HTML_ANCHOR.findall(line))
        heading = _HEADING.match(line)
        if heading is None:
            continue
        base = slug(heading.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        found.add(base if count == 0 else f"{base}-{count}")
    return frozenset(found)


@cache
def definitions(path: Path) -> dict[str, ast.AST]:
    """Module-level names of a Python file: functions, classes and assigned names."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: dict[str, ast.AST] = {}
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            names[node.name] = node
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if isinstance(target, ast.Name):
                    names[target.id] = node
    return names


def missing_names(path: Path, chain: list[str]) -> str | None:
    """Why ``A::b`` is not defined in ``path`` (None when it is): each name after the first is
    looked up in the body of the class before it."""
    scope = definitions(path)
    for i, name in enumerate(chain):
        node = scope.get(name)
        if node is None:
            where = "::".join(chain[:i]) or path.name
            return f"{name!r} is not defined in {where}"
        if isinstance(node, ast.ClassDef):
            scope = {
                n.name: n
                for n in node.body
                if isinstance(n, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
            }
        else:
            scope = {}
    return None


def resolve(link: Link) -> tuple[Path, str]:
    """The file a relative link points to, and its anchor ('' when none)."""
    target, _, anchor = link.target.partition("#")
    target = target.split("?", 1)[0]
    if not target:
        return link.source, anchor
    base = ROOT if target.startswith("/") else link.source.parent
    return (base / target.lstrip("/")).resolve(), anchor


def anchor_problem(path: Path, anchor: str) -> str | None:
    if not anchor:
        return None
    if path.suffix == ".md":
        if anchor.lower() in anchors(path):
            return None
        return f"no heading of {path.relative_to(ROOT)} has the anchor #{anchor}"
    line = _LINE_ANCHOR.match(anchor)
    if line and path.is_file():
        count = len(path.read_text(encoding="utf-8").splitlines())
        if all(int(n) <= count for n in line.groups() if n):
            return None
        return f"{path.relative_to(ROOT)} has only {count} lines"
    return f"#{anchor} names nothing in a {path.suffix or 'folder'} (only #L<line> does)"


def link_problem(link: Link) -> str | None:
    """Why a link is broken, or None. Links with a scheme (https:, mailto:) are not ours."""
    if _SCHEME.match(link.target):
        return None
    path, anchor = resolve(link)
    if not path.exists():
        return "no such file"
    if not path.is_relative_to(ROOT):
        return "points outside the repository"
    if problem := anchor_problem(path, anchor):
        return problem
    named = _TEST_TEXT.match(link.text.strip())
    if named is None:
        if "::" in link.text:
            return "the text names a test but is not of the form `file.py::name`"
        return None
    cited, chain = named.groups()
    if path.suffix != ".py" or not path.is_file():
        return f"the text names a test in {cited} but the link is not a Python file"
    if not str(path).endswith("/" + cited.lstrip("/")):
        return f"the text names {cited} but the link points to {path.relative_to(ROOT)}"
    names = [re.sub(r"\[.*\]$", "", n) for n in chain.split("::")[1:]]
    return missing_names(path, names)


def code_span_problems(path: Path) -> Iterator[str]:
    """Repository paths cited in code spans (`tests/x.py::test_y`) that do not exist."""
    for number, line in prose_lines(path):
        for _, _, content in code_spans(line):
            cited = _REPO_PATH.match(content)
            if cited is None:
                continue
            relative, names = cited.groups()
            where = f"{path.relative_to(ROOT)}:{number}: `{content}`"
            target = ROOT / relative
            if not target.exists():
                yield f"{where}: no such file"
            elif names:
                chain = [n for n in re.split(r"::|:", names) if n]
                if target.suffix != ".py" or not target.is_file():
                    yield f"{where}: names a definition in something that is not a Python file"
                elif problem := missing_names(target, chain):
                    yield f"{where}: {problem}"


def broken_links(paths: list[Path]) -> list[str]:
    problems: list[str] = []
    for path in paths:
        for link in links_of(path):
            if problem := link_problem(link):
                problems.append(f"{link.where()}: {problem}")
        problems.extend(code_span_problems(path))
    return problems


def test_every_link_of_the_docs_points_at_what_it_names() -> None:
    problems = broken_links(markdown_files())
    assert not problems, "broken links in the docs:\n" + "\n".join(problems)


def test_the_design_record_backs_its_claims_with_tests() -> None:
    """docs/design.md cites tests by name (the notation its head explains), not only files."""
    design = DOCS / "design.md"
    named = [link for link in links_of(design) if _TEST_TEXT.match(link.text.strip())]
    assert len(named) >= 40, f"only {len(named)} links of docs/design.md name a test"


# -- the checker itself: each rule refuses what it must (on files written here) -------------


def _problems_of(tmp: Path, markdown: str) -> list[str]:
    doc = tmp / "doc.md"
    doc.write_text(markdown, encoding="utf-8")
    found = []
    for link in links_of(doc):
        if problem := link_problem(link):
            found.append(f"{link.text} -> {problem}")
    return found


@pytest.fixture
def sandbox(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A repository of its own: a test module and a markdown file with awkward headings."""
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    (tmp_path / "test_x.py").write_text(
        "import pytest\n\n\ndef test_a() -> None:\n    pass\n\n\n"
        "class TestB:\n    def test_c(self) -> None:\n        pass\n",
        encoding="utf-8",
    )
    (tmp_path / "other.md").write_text(
        "# Top\n\n## The 10x spike on `make cluster`\n\n```\n# not a heading\n```\n\n"
        "## Loss window: a real link (2 ms)\n\n## Top\n",
        encoding="utf-8",
    )
    return tmp_path


def test_the_checker_accepts_what_exists(sandbox: Path) -> None:
    ok = (
        "[file](test_x.py) [`test_x.py::test_a`](test_x.py) [test_x.py::TestB::test_c](test_x.py)"
        " [`test_x.py::test_a[edge]`](test_x.py) [s](other.md#the-10x-spike-on-make-cluster)"
        " [s](other.md#loss-window-a-real-link-2-ms) [s](other.md#top-1) [l](test_x.py#L4)"
        " [web](https://example.org/x.md#nothing) `[not](a-link.md)` [self](#section)\n\n"
        "## Section\n"
    )
    assert _problems_of(sandbox, ok) == []


@pytest.mark.parametrize(
    ("markdown", "reason"),
    [
        ("[gone](missing.py)", "no such file"),
        ("[`test_x.py::test_z`](test_x.py)", "'test_z' is not defined in test_x.py"),
        ("[test_x.py::TestB::test_a](test_x.py)", "'test_a' is not defined in TestB"),
        ("[`other.py::test_a`](test_x.py)", "the text names other.py"),
        ("[`test_x.py::test_a`](other.md)", "is not a Python file"),
        ("[s](other.md#not-a-heading)", "no heading of"),
        ("[s](other.md#top-2)", "no heading of"),
        ("[s](#nowhere)", "no heading of"),
        ("[l](test_x.py#L99)", "has only"),
        ("[l](test_x.py#test_a)", "names nothing"),
        ("[up](../../../../../../../../../etc/passwd)", "outside the repository"),
    ],
)
def test_the_checker_refuses_each_kind_of_broken_link(
    sandbox: Path, markdown: str, reason: str
) -> None:
    problems = _problems_of(sandbox, markdown)
    assert len(problems) == 1 and reason in problems[0], problems


def test_code_spans_citing_repository_paths_are_checked(sandbox: Path) -> None:
    (sandbox / "tests").mkdir()
    (sandbox / "test_x.py").rename(sandbox / "tests" / "test_x.py")
    doc = sandbox / "spans.md"
    doc.write_text(
        "`tests/test_x.py::test_a` `tests/test_x.py::TestB::test_c` `tests/gone.py`"
        " `tests/test_x.py::test_gone` `not/a/repo/path.py`\n```\n`tests/in_a_fence.py`\n```\n",
        encoding="utf-8",
    )
    problems = list(code_span_problems(doc))
    assert len(problems) == 2, problems
    assert "gone.py`: no such file" in problems[0]
    assert "'test_gone' is not defined" in problems[1]
