"""Versioned release artifacts for the local cluster: a built wheel of reelstream, installed
into a folder of its own, that role processes run from.

What a deploy ships is a wheel (the package as ``pip`` builds it from ``pyproject.toml``), not
the working tree. ``build_artifact`` takes the source of a git ref (``git archive``; ``None``:
the working tree, uncommitted and new files included, through a scratch index), stamps a PEP 440
local version on it (``0.1.0+g1a2b3c4``, ``.dirty<tree>`` for uncommitted changes) so two builds of
one ``pyproject`` version stay apart, builds the wheel with ``pip wheel`` (build isolation:
the build backend pinned in ``pyproject.toml``) and installs it with ``pip install --no-deps
--target`` into ``<root>/<version>/site``. A role then runs with that folder alone on
``PYTHONPATH``, ahead of the shared virtualenv, which provides the dependencies (``--no-deps``;
a release that changes dependencies would need its own virtualenv, see docs/deploy.md).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

_VERSION = re.compile(r'^version = "([^"]+)"$', re.MULTILINE)
_DUNDER = re.compile(r'^__version__ = "[^"]+"$', re.MULTILINE)
BUILD_TIMEOUT_S = 600


class ArtifactError(RuntimeError):
    """An artifact could not be built or installed (the message has the tool's output)."""


@dataclass(frozen=True)
class Artifact:
    version: str
    wheel: Path
    site: Path
    """The folder the wheel was installed into: the ``PYTHONPATH`` of a role that runs it."""
    commit: str

    @property
    def pythonpath(self) -> str:
        return str(self.site)


def _git(repo: Path, *args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(
        ["git", "-C", str(repo), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )
    if out.returncode != 0:
        raise ArtifactError(f"git {' '.join(args)}: {out.stderr.strip()}")
    return out.stdout.strip()


def _run(argv: list[str], what: str) -> None:
    out = subprocess.run(argv, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S, check=False)
    if out.returncode != 0:
        raise ArtifactError(f"{what} failed:\n{(out.stdout + out.stderr)[-3000:]}")


def resolve(repo: Path, ref: str | None) -> tuple[str, str]:
    """``(tree-ish to archive, local version label)`` of ``ref`` (None: the working tree)."""
    head = _git(repo, "rev-parse", "--short=10", "HEAD")
    if ref is not None:
        commit = _git(repo, "rev-parse", "--verify", f"{ref}^{{commit}}")
        return commit, f"g{commit[:10]}"
    # the working tree as git would commit it (new files too, ignored ones not), through a
    # scratch index: the repository's own index and stash are left alone
    with tempfile.TemporaryDirectory(prefix="reelstream-index-") as tmp:
        env = {"GIT_INDEX_FILE": str(Path(tmp) / "index")}
        _git(repo, "read-tree", "HEAD", env=env)
        _git(repo, "add", "-A", "--", "pyproject.toml", "README.md", "src", env=env)
        tree = _git(repo, "write-tree", env=env)
    if tree == _git(repo, "rev-parse", "HEAD^{tree}"):
        return head, f"g{head}"
    return tree, f"g{head}.dirty{tree[:8]}"


def build_artifact(repo: Path, ref: str | None, root: Path) -> Artifact:
    """Build (or reuse, when that version is installed already) the artifact of ``ref``."""
    treeish, label = resolve(repo, ref)
    with tempfile.TemporaryDirectory(prefix="reelstream-build-") as tmp:
        src = Path(tmp) / "src"
        src.mkdir()
        tar_path = Path(tmp) / "source.tar"
        _git(repo, "archive", "--format=tar", "-o", str(tar_path), treeish,
             "pyproject.toml", "README.md", "src")  # fmt: skip
        with tarfile.open(tar_path) as tar:
            tar.extractall(src, filter="data")
        pyproject = src / "pyproject.toml"
        text = pyproject.read_text()
        found = _VERSION.search(text)
        if found is None:
            raise ArtifactError("pyproject.toml has no static version")
        version = f"{found.group(1)}+{label}"
        site = root / version / "site"
        wheels = root / version / "dist"
        if (root / version / "installed").exists():
            return Artifact(version, next(wheels.glob("*.whl")), site, treeish)
        pyproject.write_text(_VERSION.sub(f'version = "{version}"', text, count=1))
        init = src / "src" / "reelstream" / "__init__.py"
        init.write_text(_DUNDER.sub(f'__version__ = "{version}"', init.read_text(), count=1))
        shutil.rmtree(root / version, ignore_errors=True)
        pip = [sys.executable, "-m", "pip", "--disable-pip-version-check", "-q"]
        _run([*pip, "wheel", "--no-deps", "-w", str(wheels), str(src)], "pip wheel")
        wheel = next(wheels.glob("*.whl"))
        _run([*pip, "install", "--no-deps", "--no-compile", "--target", str(site), str(wheel)],
             "pip install --target")  # fmt: skip
    (root / version / "installed").write_text(version + "\n")
    return Artifact(version, wheel, site, treeish)
