"""``python -m benchmarks.load --base-url URL [options]``: run the load harness and print the
report (``--json-out FILE`` also writes it as JSON). ``--help`` lists the options."""

from __future__ import annotations

import asyncio
import json
import sys

from benchmarks.load import report
from benchmarks.load.config import ConfigError, from_args
from benchmarks.load.runner import NoCatalogue, run


def main(argv: list[str] | None = None) -> int:
    try:
        cfg = from_args(argv)
    except ConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        result = asyncio.run(run(cfg))
    except (NoCatalogue, RuntimeError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    if cfg.json_out is not None:
        cfg.json_out.write_text(json.dumps(result, indent=2) + "\n")
    if cfg.output_format == "markdown":
        print(report.render_markdown(result))
    else:
        report.render_rich(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
