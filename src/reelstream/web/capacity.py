"""The capacity page (``/admin/capacity``): the capacity and cost model behind a GET form.

The form carries the main inputs (the rest keep their defaults; the CLI has them all); the
answer shows the headline outputs, every output with the inputs and measured figures it came
from, the monthly cost lines with their price sources, and the what-if. A value the model
refuses renders the form again with the reason, status 422. Admins only, like ``/admin``:
anonymous visitors are sent to sign in, other users get the 403 page.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from fastapi import APIRouter, Request
from starlette.responses import HTMLResponse, Response

from reelstream.admin import service
from reelstream.auth.deps import ReadUser
from reelstream.auth.errors import Forbidden
from reelstream.capacity.errors import CapacityError
from reelstream.capacity.inputs import CapacityInputs, build_inputs
from reelstream.capacity.measured import Measured
from reelstream.capacity.model import Estimate, estimate, what_if
from reelstream.capacity.present import GROUPS, HEADLINE, number, usd, what_if_line
from reelstream.http.deps import ServicesDep
from reelstream.web.admin import admins_only
from reelstream.web.render import page_context, render

if TYPE_CHECKING:
    from reelstream.services import Services

router = APIRouter(include_in_schema=False, default_response_class=HTMLResponse)

FORM_FIELDS = (
    "dau",
    "views_per_user",
    "api_actions_per_user",
    "watch_minutes_per_view",
    "uploads_per_day",
    "upload_minutes",
    "edge_hit_ratio",
    "zipf_s",
    "replication_factor",
    "regions",
    "peak_to_average",
    "retention_days",
)
DEFAULT_WHAT_IF = 10.0
MAX_FIELD_CHARS = 40


def _number(name: str, text: str) -> float:
    try:
        value = float(text.strip())
    except ValueError:
        raise CapacityError(f"{name}: {text.strip()[:MAX_FIELD_CHARS]!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise CapacityError(f"{name}: must be a finite number")
    return value


def read_form(request: Request) -> tuple[dict[str, object], float]:
    """The inputs the query string gives (empty fields: the defaults) and the what-if factor."""
    values: dict[str, object] = {}
    q = request.query_params
    for name in FORM_FIELDS:
        text = q.get(name, "").strip()
        if text:
            number_ = _number(name, text)
            is_int = CapacityInputs.model_fields[name].annotation is int
            if is_int and not number_.is_integer():
                raise CapacityError(f"{name}: must be a whole number")
            values[name] = int(number_) if is_int else number_
    factor_text = q.get("what_if", "").strip()
    factor = _number("what_if", factor_text) if factor_text else DEFAULT_WHAT_IF
    if not 0 < factor <= 10_000:
        raise CapacityError("what_if: must be above 0 and at most 10,000")
    return values, factor


@router.get("/admin/capacity", name="admin_capacity")
async def capacity_page(request: Request, services: ServicesDep, user: ReadUser) -> Response:
    try:
        service.require_admin(user)
    except Forbidden as exc:
        return admins_only(services, user, exc)
    form = {name: request.query_params.get(name, "")[:MAX_FIELD_CHARS] for name in FORM_FIELDS}
    form["what_if"] = request.query_params.get("what_if", "")[:MAX_FIELD_CHARS]
    try:
        values, factor = read_form(request)
        inputs = build_inputs(**values)
        measured = Measured.load()
        base = estimate(inputs, measured)
        scaled = what_if(inputs, measured, factor)
    except CapacityError as exc:
        return _render(services, user, form, exc.status, error=exc.message)
    return _render(services, user, form, 200, base=base, scaled=scaled, factor=factor)


def _render(
    services: Services,
    user: object,
    form: dict[str, str],
    status: int,
    *,
    error: str | None = None,
    base: Estimate | None = None,
    scaled: Estimate | None = None,
    factor: float = DEFAULT_WHAT_IF,
) -> Response:
    defaults = CapacityInputs()
    return render(
        "capacity.html",
        status,
        page="admin",
        form=form,
        fields=[(n, CapacityInputs.model_fields[n], getattr(defaults, n)) for n in FORM_FIELDS],
        error=error,
        base=base,
        scaled=scaled,
        factor=factor,
        headline=HEADLINE,
        groups=GROUPS,
        number=number,
        usd=usd,
        what_if_line=what_if_line(base, scaled, factor) if base and scaled else None,
        **page_context(services, user),  # type: ignore[arg-type]
    )
