"""The Prometheus rules: valid, unit-tested with promtool, annotated, in the runbook, and reading
only metrics something defines.

Every rules file in ``RULES_DIR`` (whoever wrote it) is checked by ``promtool check rules`` and
must have its unit tests, ``tests/monitoring/rules/<name>.test.yml``; every such file runs under
``promtool test rules``. Every alert carries the agreed labels and annotations (COMMON14:
``severity`` page|ticket; ``summary``, ``description``, ``runbook_url`` pointing at its entry)
and docs/runbook.md has that entry (``### Name`` with the three lead-ins). A ``reelstream_*``
metric a rule reads must be defined by the app (a quoted name in ``src/reelstream``: the
metrics module, the worker), by the edge's mtail program, or be one of the mtail names agreed
before that program exists (``MTAIL_AGREED``): a renamed metric must not leave a rule that
silently never fires.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from reelstream.monitoring import RULES_DIR
from tests.support import require_binary

ROOT = Path(__file__).resolve().parents[2]
TESTS_DIR = Path(__file__).resolve().parent / "rules"
RUNBOOK = ROOT / "docs" / "runbook.md"
RUNBOOK_URL = "https://github.com/reelstream/reelstream/blob/main/docs/runbook.md#"
LEAD_INS = ("What it means", "How to confirm", "What to do")
"""Bold lead-ins (``**What it means**:``; a colon or full stop inside the bold is fine too)."""
SEVERITIES = {"page", "ticket"}

MTAIL_AGREED = frozenset(
    {
        "reelstream_edge_requests_total",
        "reelstream_edge_request_duration_seconds",
        "reelstream_edge_response_bytes_total",
        "reelstream_edge_cmcd_requests_total",
        "reelstream_edge_cmcd_buffer_starvation_total",
    }
)
"""The edge's mtail metrics as COMMON14 names them (the mtail program, once there, is read too)."""

SUFFIXES = ("_bucket", "_count", "_sum", "_total", "_created")
_METRIC = re.compile(r"\breelstream_[a-z0-9_]+")
_QUOTED = re.compile(r"""["'](reelstream_[a-z0-9_]+)["']""")
_MTAIL_DECL = re.compile(r"^\s*(?:counter|gauge|histogram|timer)\s+(reelstream_[a-z0-9_]+)", re.M)

pytestmark = pytest.mark.timeout(120)


def rules_files() -> list[Path]:
    return sorted(RULES_DIR.glob("*.yml"))


def test_files_are_there() -> None:
    names = {p.name for p in rules_files()}
    assert {"workload.rules.yml", "slo.rules.yml"} <= names


def alerts() -> list[tuple[str, dict[str, Any]]]:
    out = []
    for path in rules_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            out += [(path.name, r) for r in group["rules"] if "alert" in r]
    return out


def test_promtool_checks_every_rules_file() -> None:
    promtool = require_binary("promtool")
    files = [str(p) for p in rules_files()]
    run = subprocess.run(
        [promtool, "check", "rules", *files], capture_output=True, text=True, timeout=60
    )
    assert run.returncode == 0, run.stdout + run.stderr


def test_every_rules_file_has_unit_tests() -> None:
    missing = [
        p.name
        for p in rules_files()
        if not (TESTS_DIR / p.name.replace(".rules.yml", ".test.yml")).is_file()
    ]
    assert not missing, f"rules files without tests/monitoring/rules/<name>.test.yml: {missing}"


def test_promtool_unit_tests_pass() -> None:
    promtool = require_binary("promtool")
    tests = sorted(str(p) for p in TESTS_DIR.glob("*.test.yml"))
    assert len(tests) >= 2
    run = subprocess.run(
        [promtool, "test", "rules", *tests], capture_output=True, text=True, timeout=100
    )
    assert run.returncode == 0, run.stdout + run.stderr


def runbook_sections() -> dict[str, str]:
    """``### Name`` -> the text up to the next heading."""
    text = RUNBOOK.read_text()
    parts = re.split(r"^(#{1,3} .*)$", text, flags=re.M)
    return {
        head[4:].strip(): body
        for head, body in zip(parts[1::2], parts[2::2], strict=True)
        if head.startswith("### ")
    }


def test_every_alert_is_annotated_and_in_the_runbook() -> None:
    found = alerts()
    assert len(found) >= 20
    sections = runbook_sections()
    problems = []
    for file, rule in found:
        name = rule["alert"]
        where = f"{file}: {name}"
        if not re.fullmatch(r"[A-Z][A-Za-z0-9]+", name):
            problems.append(f"{where}: not a CamelCase name")
        if rule.get("labels", {}).get("severity") not in SEVERITIES:
            problems.append(f"{where}: severity must be one of {sorted(SEVERITIES)}")
        notes = rule.get("annotations", {})
        for key in ("summary", "description"):
            if not str(notes.get(key, "")).strip():
                problems.append(f"{where}: no {key}")
        if notes.get("runbook_url") != RUNBOOK_URL + name.lower():
            problems.append(f"{where}: runbook_url must be {RUNBOOK_URL}{name.lower()}")
        body = sections.get(name)
        if body is None:
            problems.append(f"{where}: docs/runbook.md has no '### {name}'")
            continue
        problems += [
            f"{where}: runbook lacks **{lead}**"
            for lead in LEAD_INS
            if not re.search(rf"\*\*{lead}[:.]?\*\*", body)
        ]
    assert not problems, "\n".join(problems)


def defined_metrics() -> set[str]:
    names: set[str] = set(MTAIL_AGREED)
    for path in (ROOT / "src" / "reelstream").rglob("*.py"):
        names.update(_QUOTED.findall(path.read_text()))
    for path in (RULES_DIR.parent / "mtail").glob("*.mtail"):
        names.update(_MTAIL_DECL.findall(path.read_text()))
    return names


def is_defined(name: str, defined: set[str]) -> bool:
    if name in defined:
        return True
    return any(name.endswith(s) and name[: -len(s)] in defined for s in SUFFIXES)


def test_every_app_metric_a_rule_reads_is_defined() -> None:
    defined = defined_metrics()
    # the check itself: what the app defines passes, with the names Prometheus derives
    assert is_defined("reelstream_jobs_finished_total", defined)
    assert is_defined("reelstream_video_time_to_ready_seconds_bucket", defined)
    assert is_defined("reelstream_http_shed_total", defined)
    assert not is_defined("reelstream_no_such_metric_total", defined)
    used: dict[str, set[str]] = {}
    for path in rules_files():
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                where = f"{path.name}: {rule.get('alert') or rule.get('record')}"
                for name in _METRIC.findall(str(rule["expr"])):
                    used.setdefault(name, set()).add(where)
    assert "reelstream_edge_requests_total" in used
    unknown = {name: sorted(where) for name, where in used.items() if not is_defined(name, defined)}
    assert not unknown, f"rules read metrics nothing defines: {unknown}"
