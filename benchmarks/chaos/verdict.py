"""The checker's verdict: named checks with counts and the exact things that failed."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

MAX_LISTED = 50  # problems listed per check in the detail (all of them stay in ``problems``)


@dataclass(frozen=True)
class Check:
    name: str
    ok: bool
    detail: str
    counts: dict[str, Any] = field(default_factory=dict)
    problems: tuple[str, ...] = ()  # each names the video, object, row or request at fault

    @classmethod
    def of(cls, name: str, summary: str, counts: dict[str, Any], problems: list[str]) -> Check:
        """``ok`` when there is no problem; the detail lists the first problems by name."""
        detail = summary
        if problems:
            listed = "; ".join(problems[:MAX_LISTED])
            more = len(problems) - MAX_LISTED
            detail = f"{summary}: {listed}" + (f" (and {more} more)" if more > 0 else "")
        return cls(name, not problems, detail, counts, tuple(problems))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "ok": self.ok,
            "detail": self.detail,
            "counts": self.counts,
            "problems": list(self.problems),
        }


@dataclass(frozen=True)
class CheckReport:
    checks: tuple[Check, ...]

    @property
    def ok(self) -> bool:
        return all(c.ok for c in self.checks)

    def check(self, name: str) -> Check:
        for c in self.checks:
            if c.name == name:
                return c
        raise KeyError(name)

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "checks": [c.to_dict() for c in self.checks]}

    def to_markdown(self) -> str:
        rows = ["| check | result | counts | detail |", "|---|---|---|---|"]
        for c in self.checks:
            counts = ", ".join(f"{k}: {_fmt(v)}" for k, v in c.counts.items())
            detail = c.detail.replace("|", "\\|").replace("\n", " ")
            rows.append(f"| {c.name} | {'pass' if c.ok else 'FAIL'} | {counts} | {detail} |")
        verdict = "every check passed" if self.ok else "some checks FAILED"
        return "\n".join([f"### Checker: {verdict}", "", *rows]) + "\n"


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {_fmt(v)}" for k, v in value.items()) + "}"
    return str(value)
