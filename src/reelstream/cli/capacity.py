"""``reelstream capacity``: the capacity and cost model on the command line.

One option per input of ``reelstream.capacity.inputs.CapacityInputs`` (generated from the
model's fields, so a new input gets its option), plus ``--ladder``, ``--price NAME=VALUE``,
``--what-if FACTOR``, ``--measured PATH`` and ``--json``. Prints the inputs, the measured
figures used (with their date, machine and command), the outputs with the inputs and figures
each came from, and the monthly cost lines with their price sources.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from reelstream.capacity.errors import CapacityError
from reelstream.capacity.inputs import CapacityInputs, build_inputs, ladder_text, parse_ladder
from reelstream.capacity.measured import Measured
from reelstream.capacity.model import Estimate, estimate, what_if
from reelstream.capacity.present import GROUPS, HEADLINE, number, usd, what_if_line

SPECIAL = {"ladder", "prices", "egress_via"}
ALIASES = {"api_actions_per_user": ("--actions-per-user",)}


def _input_options(f: Callable[..., None]) -> Callable[..., None]:
    for name, info in reversed(CapacityInputs.model_fields.items()):
        if name in SPECIAL:
            continue
        kind = int if info.annotation is int else float
        default = info.get_default(call_default_factory=True)
        flags = (f"--{name.replace('_', '-')}", *ALIASES.get(name, ()))
        f = click.option(
            *flags,
            name,
            type=kind,
            default=None,
            help=f"{info.description or name} [{default:g}]",
        )(f)
    return f


def _prices(values: tuple[str, ...]) -> dict[str, float]:
    out = {}
    for item in values:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise click.BadParameter(
                f"{item!r} is not NAME=VALUE (e.g. vcpu_hour=0.04)", param_hint="--price"
            )
    return out


@click.command("capacity")
@_input_options
@click.option(
    "--ladder", default=None, help="height:video kb/s:watch share,... [the project's ladder]"
)
@click.option(
    "--egress-via",
    type=click.Choice(["ec2", "cloudfront"]),
    default=None,
    help="whose egress prices apply [ec2: the edge nodes]",
)
@click.option(
    "--price",
    "price",
    multiple=True,
    metavar="NAME=VALUE",
    help="override a price (USD per its unit; replaces volume tiers)",
)
@click.option(
    "--what-if",
    "factor",
    type=click.FloatRange(min=0.001, max=1e4),
    default=None,
    help="also compute with FACTOR x the daily active users and uploads",
)
@click.option(
    "--measured",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="record of measured figures [src/reelstream/capacity/measured.json]",
)
@click.option("--json", "as_json", is_flag=True, help="print JSON instead of tables")
def capacity(
    ladder: str | None,
    egress_via: str | None,
    price: tuple[str, ...],
    factor: float | None,
    measured: Path | None,
    as_json: bool,
    **given: Any,
) -> None:
    """Capacity and cost: QPS, egress, storage, transcode, nodes per tier and monthly cost.

    Example (the seeds'): reelstream capacity --dau 100e6 --actions-per-user 10 --what-if 10
    """
    values: dict[str, object] = {k: v for k, v in given.items() if v is not None}
    try:
        if ladder is not None:
            values["ladder"] = parse_ladder(ladder)
        if egress_via is not None:
            values["egress_via"] = egress_via
        values["prices"] = _prices(price)
        inputs = build_inputs(**values)
        figures = Measured.load(measured)
        base = estimate(inputs, figures)
        scaled = what_if(inputs, figures, factor) if factor else None
    except CapacityError as exc:
        raise click.ClickException(exc.message) from None
    if as_json:
        doc: dict[str, Any] = base.as_json()
        if scaled is not None and factor:
            doc["what_if"] = {
                "factor": factor,
                **scaled.as_json(),
                "line": what_if_line(base, scaled, factor),
            }
        click.echo(json.dumps(doc, indent=2))
        return
    console = Console(highlight=False)
    for table in render(base):
        console.print(table)
    if scaled is not None and factor:
        console.print(compare(base, scaled, factor))
        console.print(what_if_line(base, scaled, factor))


def _inputs_table(e: Estimate) -> Table:
    table = Table(title="Inputs", title_justify="left")
    table.add_column("input")
    table.add_column("value", justify="right")
    defaults = CapacityInputs()
    for name in CapacityInputs.model_fields:
        value = getattr(e.inputs, name)
        if name == "ladder":
            text = ladder_text(value)
        elif name == "prices":
            text = ", ".join(f"{k}={v:g}" for k, v in value.items()) or "defaults"
        else:
            text = value if isinstance(value, str) else f"{value:g}"
        mark = "" if value == getattr(defaults, name) else " *"
        table.add_row(name, escape(f"{text}{mark}"))
    return table


def render(e: Estimate) -> list[Table]:
    """The tables: inputs, measured figures, outputs by group, costs."""
    figures = Table(
        title="Measured figures used (src/reelstream/capacity/measured.json)", title_justify="left"
    )
    for col in ("figure", "value", "date", "machine", "command (doc section)"):
        figures.add_column(col)
    for name in e.figures_used():
        f = e.measured.figures[name]
        figures.add_row(
            name,
            f"{number(f.value)} {f.unit} on {f.cores} core(s)",
            f.date,
            escape(f.machine),
            escape(f"{f.command} ({f.doc}: {f.section})"),
        )
    outputs = Table(title="Outputs", title_justify="left")
    for col in ("output", "value", "unit", "from inputs", "measured"):
        outputs.add_column(col, justify="right" if col == "value" else "left")
    for group in GROUPS:
        for o in (o for o in e.outputs.values() if o.group == group):
            label = f"[bold]{escape(o.label)}[/bold]" if o.key in HEADLINE else escape(o.label)
            outputs.add_row(
                label, number(o.value), o.unit, ", ".join(o.inputs), ", ".join(o.measured)
            )
        outputs.add_section()
    costs = Table(title="Monthly cost (USD, list prices)", title_justify="left")
    for col in ("line", "USD / month", "prices (source, read on)"):
        costs.add_column(col, justify="right" if col.startswith("USD") else "left")
    for line in e.costs:
        src = "; ".join(
            f"{p.name} {e.inputs.prices.get(p.name, p.usd):g}/{p.unit}"
            + (
                " (overridden)"
                if p.name in e.inputs.prices
                else f"{' tiered' if p.tiers else ''} ({p.source}, {p.url}, {p.read_on})"
            )
            for p in line.sources()
        )
        costs.add_row(line.name, usd(line.usd_month), escape(src))
    costs.add_section()
    costs.add_row("[bold]total[/bold]", f"[bold]{usd(e.total_usd_month)}[/bold]", "")
    return [_inputs_table(e), figures, outputs, costs]


def compare(base: Estimate, scaled: Estimate, factor: float) -> Table:
    table = Table(
        title=f"What if {factor:g}x (daily active users and uploads)", title_justify="left"
    )
    for col in ("output", "1x", f"{factor:g}x", "ratio"):
        table.add_column(col, justify="left" if col == "output" else "right")
    for key in HEADLINE:
        a, b = base[key], scaled[key]
        table.add_row(base.outputs[key].label, number(a), number(b), f"{b / a:.2f}" if a else "—")
    table.add_row(
        "monthly cost (USD)",
        usd(base.total_usd_month),
        usd(scaled.total_usd_month),
        f"{scaled.total_usd_month / base.total_usd_month:.2f}",
    )
    return table
