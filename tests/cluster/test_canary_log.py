"""The canary's verdict from the edge's access log (``rolling.canary_answers``): answers and
5xx answers of one upstream, retries included, client drops not counted against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from reelstream.devcluster.rolling import canary_answers

LINE = (
    '127.0.0.1 [2026-11-30T20:08:36+00:00] t=1.0 "{req}" {status} 0 rt=0.001 urt="0.0" '
    'uct="0.0" upstream="{addr}" ustatus="{ustatus}" cache=-'
)


@pytest.mark.timeout(10)
def test_counts_answers_and_errors_of_one_upstream(tmp_path: Path) -> None:
    log = tmp_path / "access.log"
    before = LINE.format(req="GET /a", status=500, addr="127.0.0.1:9000", ustatus="500")
    log.write_text(before + "\n")
    offset = log.stat().st_size
    lines = [
        LINE.format(req="GET /b", status=200, addr="127.0.0.1:9000", ustatus="200"),
        LINE.format(req="GET /c", status=200, addr="127.0.0.1:8000", ustatus="200"),
        LINE.format(
            req="GET /d", status=200, addr="127.0.0.1:9000, 127.0.0.1:8000", ustatus="502, 200"
        ),
        LINE.format(req="PATCH /e", status=400, addr="127.0.0.1:9000", ustatus="-"),
        "garbage",
    ]
    with log.open("a") as f:
        f.write("\n".join(lines) + "\n")
    assert canary_answers(log, offset, ":9000") == (3, 1)
    assert canary_answers(log, offset, ":8000") == (2, 0)
    assert canary_answers(log, 0, ":9000") == (4, 2)
