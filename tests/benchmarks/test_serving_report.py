"""The serving benchmark's arithmetic (benchmarks/serving_report.py): wrk output, medians, ratios
against anchors, and the markdown table. No server is started: this keeps the script from rotting
in CI; the benchmark itself is run by hand (docs/performance.md)."""

from __future__ import annotations

import pytest
from benchmarks.serving import parse_args
from benchmarks.serving_report import Target, WrkOutputError, WrkResult, parse_wrk, ratio, table

WRK = """\
Running 3s test @ http://127.0.0.1:40001/seg.m4s
  1 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.61ms  412.33us   9.03ms   85.12%
    Req/Sec    19.92k     1.02k   21.30k    80.00%
  Latency Distribution
     50%    1.55ms
     75%    1.74ms
     90%    2.01ms
     99%    3.12ms
  59444 requests in 3.00s, 10.75GB read
  Non-2xx or 3xx responses: 12
Requests/sec:  19813.58
Transfer/sec:      3.58GB
"""


def test_wrk_output_gives_throughput_tail_latency_and_failures() -> None:
    result = parse_wrk(WRK)
    assert result == WrkResult(rps=19813.58, p99_ms=3.12, requests=59444, non_2xx=12)


@pytest.mark.parametrize(
    ("text", "ms"), [("812.00us", 0.812), ("1.20s", 1200.0), ("2.00m", 120000.0)]
)
def test_p99_in_any_unit_is_read_as_milliseconds(text: str, ms: float) -> None:
    assert parse_wrk(WRK.replace("3.12ms", text)).p99_ms == pytest.approx(ms)


def test_socket_errors_are_counted() -> None:
    text = WRK.replace(
        "  Non-2xx", "  Socket errors: connect 0, read 3, write 1, timeout 2\n  Non-2xx"
    )
    assert parse_wrk(text).socket_errors == 6


def test_output_without_latency_distribution_is_refused() -> None:
    with pytest.raises(WrkOutputError):
        parse_wrk(WRK.replace("     99%    3.12ms\n", ""))


def _runs(*rps: float, non_2xx: int = 0, requests: int = 100) -> list[WrkResult]:
    return [WrkResult(rps=r, p99_ms=r / 1000, requests=requests, non_2xx=non_2xx) for r in rps]


def test_medians_ratios_and_table() -> None:
    anchor = Target("bare nginx", runs=_runs(20000, 19000, 21000))
    edge = Target("edge HIT", anchor="bare nginx", runs=_runs(18000, 9000, 19000))
    limited = Target("429", anchor="edge HIT", expect_status=429, runs=_runs(500, non_2xx=90))
    assert anchor.rps == 20000
    assert edge.rps == 18000
    assert edge.p99_ms == 18.0
    by_name = {t.name: t for t in (anchor, edge, limited)}
    assert ratio(anchor, by_name) is None
    assert ratio(edge, by_name) == pytest.approx(0.9)
    # A 429 target expects every answer to be "non-2xx": the 10 that were not are unexpected.
    assert limited.unexpected == 10
    assert edge.unexpected == 0

    lines = table([anchor, edge, limited]).splitlines()
    assert lines[0].startswith("| target | req/s (median) | p99 (median) |")
    assert lines[2] == "| bare nginx | 20,000 | 20.0 ms | anchor | 1 | 0 |"
    assert lines[3] == "| edge HIT | 18,000 | 18.0 ms | bare nginx | 0.90x | 0 |"
    assert lines[4] == "| 429 | 500 | 0.50 ms | edge HIT | 0.03x | 10 |"


def test_a_target_without_runs_is_zero_not_an_error() -> None:
    anchor, empty = Target("a"), Target("b", anchor="a")
    assert ratio(empty, {"a": anchor, "b": empty}) is None
    assert "| b | 0 |" in table([anchor, empty])


def test_a_target_whose_anchor_was_not_measured_has_no_ratio() -> None:
    edge = Target("edge HIT", anchor="bare nginx", runs=_runs(18000))
    assert ratio(edge, {"edge HIT": edge}) is None  # --only edge


def test_command_line_defaults_are_the_documented_method() -> None:
    args = parse_args([])
    assert (args.runs, args.seconds, args.connections) == (3, 10, 32)
    assert (args.server_cpus, args.client_cpus, args.workers) == ("0", "1", 1)
    assert not args.no_write
    short = parse_args(["--runs", "1", "--seconds", "2", "--no-write", "--workers", "2"])
    assert (short.runs, short.seconds, short.no_write, short.workers) == (1, 2.0, True, 2)
