"""The capacity page (``/admin/capacity``): admins only, the model behind a GET form, a bad
input answered with the form and the reason (422), and linked from ``/admin``."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from tests.support import bearer, create_account
from tests.web.test_pages import assert_valid_html

pytestmark = pytest.mark.timeout(60)


def test_the_capacity_page(client: TestClient, anon: TestClient) -> None:
    boss = bearer(create_account(client, "capacity-boss", admin=True, scopes=("admin",)))
    plain = bearer(create_account(client, "capacity-user"))

    r = anon.get("/admin/capacity", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"].startswith("/login")
    r = anon.get("/admin/capacity", headers=plain)
    assert r.status_code == 403 and "Admins only" in r.text and "capacity-form" not in r.text

    r = anon.get("/admin/capacity", headers=boss)
    assert r.status_code == 200, r.text
    assert_valid_html(r.text)
    assert 'id="capacity-form"' in r.text and 'id="capacity-headline"' in r.text
    row = re.search(r'<tr data-output="api_qps_avg">(.*?)</tr>', r.text, re.S)
    assert row and "11,574" in row.group(1) and "115,741" in row.group(1)  # 1x and 10x
    assert 'data-figure="edge_hit_rps"' in r.text and "2026-11-30" in r.text
    assert "https://aws.amazon.com/ec2/pricing/on-demand/" in r.text

    r = anon.get("/admin/capacity?dau=1e6&api_actions_per_user=20&what_if=2", headers=boss)
    assert r.status_code == 200
    row = re.search(r'<tr data-output="api_qps_avg">(.*?)</tr>', r.text, re.S)
    assert row and "231" in row.group(1) and "463" in row.group(1)
    assert 'value="1e6"' in r.text  # the form keeps what was asked

    for query, reason in (
        ("dau=lots", "dau: &#39;lots&#39; is not a number"),
        ("edge_hit_ratio=1.5", "edge_hit_ratio: Input should be less than or equal to 1"),
        ("regions=1.5", "regions: must be a whole number"),
        ("what_if=-1", "what_if: must be above 0"),
        ("dau=nan", "dau: must be a finite number"),
    ):
        r = anon.get(f"/admin/capacity?{query}", headers=boss)
        assert r.status_code == 422, (query, r.text)
        assert_valid_html(r.text)
        assert reason in r.text, query
        assert 'id="form-error"' in r.text and 'id="capacity-form"' in r.text
        assert 'id="capacity-headline"' not in r.text

    admin_page = anon.get("/admin", headers=boss)
    assert 'href="/admin/capacity"' in admin_page.text
