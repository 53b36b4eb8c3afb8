"""src/reelstream/capacity/measured.json, the record the capacity model reads, against the published
results: every figure appears with the same value in the row of the doc section it names, so
the record cannot drift from docs/performance.md and docs/benchmarks.md. And what the
benchmarks write into it (``benchmarks.measured_record``) passes the same check."""

from __future__ import annotations

import argparse
import json
import re
from pathlib import Path
from typing import Any

import pytest
from benchmarks.measured_record import RECORD, Measurement, Run, cpu_count, merge, short_machine
from benchmarks.serving import Row, command_of, heading, measurements
from benchmarks.serving_report import Target, WrkResult, table

from reelstream.capacity.errors import MeasuredRecordError
from reelstream.capacity.measured import DEFAULT_RECORD, USED, Measured, read_record

pytestmark = pytest.mark.timeout(30)

ROOT = Path(__file__).resolve().parents[2]
HEADING = re.compile(r"^#+\s+(.*?)\s*$", re.MULTILINE)


def sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) of every section of a markdown document."""
    marks = list(HEADING.finditer(text))
    return [
        (m.group(1), text[m.end() : marks[i + 1].start() if i + 1 < len(marks) else len(text)])
        for i, m in enumerate(marks)
    ]


def _plain(cell: str) -> str:
    return cell.replace("**", "").strip()


def check_entry(entry: dict[str, Any], text: str) -> None:
    """The entry's value is in its row and column of the last section with its heading and
    command; the heading carries its date and the section its machine."""
    found = [
        body
        for title, body in sections(text)
        if title == entry["section"] and f"`{entry['command']}`" in body
    ]
    assert found, f"{entry['name']}: no section {entry['section']!r} with its command"
    body = found[-1]
    assert entry["date"] in entry["section"], entry["name"]
    for part in entry["machine"].split(", "):
        assert part in body, f"{entry['name']}: machine {part!r} not in its section"
    rows = [
        [c for c in line.strip().strip("|").split("|")]
        for line in body.splitlines()
        if line.startswith("|")
    ]
    matching = [r for r in rows if _plain(r[0]) == _plain(entry["row"])]
    assert len(matching) == 1, f"{entry['name']}: row {entry['row']!r} found {len(matching)}x"
    cell = _plain(matching[0][entry["column"]]).replace(",", "")
    assert float(cell) == entry["value"], f"{entry['name']}: {cell} published, record says " + str(
        entry["value"]
    )


def test_every_recorded_figure_is_published_with_the_same_value() -> None:
    assert DEFAULT_RECORD == RECORD
    record = json.loads(RECORD.read_text())
    names = [e["name"] for e in record["figures"]]
    assert len(names) == len(set(names))
    assert set(USED) <= set(names)
    for entry in record["figures"]:
        check_entry(entry, (ROOT / entry["doc"]).read_text())


def test_the_check_catches_a_drifted_value() -> None:
    entry = next(
        e for e in json.loads(RECORD.read_text())["figures"] if e["name"] == "edge_hit_rps"
    )
    text = (ROOT / entry["doc"]).read_text()
    with pytest.raises(AssertionError, match="published, record says"):
        check_entry({**entry, "value": entry["value"] + 1}, text)
    with pytest.raises(AssertionError, match="no section"):
        check_entry({**entry, "command": "python -m benchmarks.serving --runs 99"}, text)


def test_what_the_serving_benchmark_records_passes_the_check() -> None:
    def target(name: str, anchor: str | None, rps: float) -> Row:
        return Row(Target(name, anchor, runs=[WrkResult(rps, 2.0, 1000)]), "http://x")

    rows = [
        target("bare nginx, segment file", None, 19_000.4),
        target("edge cache HIT (nginx + njs token check)", "bare nginx, segment file", 21_432.4),
        target("origin segment GET", None, 9_215.2),
        target("GET /api/v1/videos/abc", None, 12_622.0),
        target("GET /healthz", None, 8_504.0),
    ]
    args = argparse.Namespace(server_cpus="0", segment_bytes=190_045)
    argv = ["--runs", "1", "--seconds", "2"]
    run = Run(
        "docs/performance.md",
        heading("2026-12-01"),
        command_of(argv),
        "2 cores, x86_64, nginx/1.22.1",
        "2026-12-01",
    )
    doc = (
        f"# Performance\n\n## {run.section}\n\nMachine: 2 cores, x86_64, ffmpeg. nginx version: "
        f"nginx/1.22.1.\n\nCommand: `{run.command}` (servers on CPU 0)\n\n"
        + table([r.target for r in rows])
    )
    old = {"figures": [{"name": "edge_hit_rps", "value": 1}, {"name": "kept", "value": 2}]}
    record = merge(old, run, measurements(args, rows))
    by_name = {e["name"]: e for e in record["figures"]}
    assert set(by_name) == {
        "edge_hit_rps",
        "kept",
        "origin_segment_rps",
        "api_get_rps",
        "routed_request_rps",
    }
    assert by_name["edge_hit_rps"]["value"] == 21_432
    assert by_name["edge_hit_rps"]["request_bytes"] == 190_045
    for name in ("edge_hit_rps", "origin_segment_rps", "api_get_rps", "routed_request_rps"):
        check_entry(by_name[name], doc)


def test_small_helpers_of_the_record() -> None:
    line = (
        "Machine: 2 cores, x86_64, ffmpeg version n9.0.2 Copyright (c) 2000-2026 the FFmpeg "
        "developers."
    )
    assert short_machine(line) == "2 cores, x86_64, ffmpeg version n9.0.2"
    assert (cpu_count("0"), cpu_count("0,1"), cpu_count("0-3"), cpu_count("0,2-3")) == (1, 2, 4, 3)
    kept = Measurement("x", 1.0, "s", "row", 1)
    assert merge({}, Run("d", "s", "c", "m", "2026-01-01"), [kept])["figures"][0]["row"] == "row"


def test_a_missing_or_broken_record_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(MeasuredRecordError, match="no record of measured figures"):
        read_record(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text('{"figures": [{"name": "x"}]}')
    with pytest.raises(MeasuredRecordError, match="is not a record"):
        read_record(tmp_path / "bad.json")
    (tmp_path / "short.json").write_text('{"figures": []}')
    with pytest.raises(MeasuredRecordError, match="the record lacks edge_hit_rps"):
        Measured.load(tmp_path / "short.json")
