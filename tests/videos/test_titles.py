"""The one title check: the same refusal (422 ``invalid_title``, same reason) for a title given
at creation (tus ``Upload-Metadata``) and in a ``PATCH``; nothing is created or changed."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from reelstream.videos.errors import InvalidTitle
from reelstream.videos.titles import check_title
from tests.ingest.helpers import TUS, metadata

# (title, what the reason names)
HOSTILE_TITLES = [
    ("a\x00b", "U+0000"),  # NUL
    ("line\nbreak", "U+000A"),  # LF
    ("carriage\rreturn", "U+000D"),  # CR
    ("header\r\nX-Injected: 1", "U+000D"),  # CRLF
    ("tab\tinside", "U+0009"),
    ("bell\x07", "U+0007"),
    ("escape \x1b[31mred", "U+001B"),  # terminal escape
    ("del\x7f", "U+007F"),
    ("c1 \x85 next line", "U+0085"),  # C1: NEL
    ("c1 \x9b csi", "U+009B"),  # C1: CSI
    ("line\u2028separator", "U+2028"),
    ("para\u2029separator", "U+2029"),
    ("\u202aLRE", "U+202A"),
    ("\u202bRLE", "U+202B"),
    ("pop\u202c", "U+202C"),
    ("\u202dLRO", "U+202D"),
    ("invoice_\u202ecod.exe", "U+202E"),  # RLO: shows as invoice_exe.doc
    ("\u2066LRI", "U+2066"),
    ("\u2067RLI", "U+2067"),
    ("\u2068FSI", "U+2068"),
    ("PDI\u2069", "U+2069"),
    ("x" * 301, "1 to 300"),
]
IDS = [repr(t)[:24] for t, _ in HOSTILE_TITLES]


@pytest.mark.parametrize(
    ("title", "reason"), [*HOSTILE_TITLES, ("   ", "1 to 300"), ("", "1 to 300")]
)
def test_check_title_refuses(title: str, reason: str) -> None:
    with pytest.raises(InvalidTitle, match=reason.replace("+", r"\+")):
        check_title(title)


@pytest.mark.parametrize(
    "title", ["Holiday", "  padded  ", "Ünïcödé 日本語 🎬", "עברית ومرحبا", "a\u200fb", "x" * 300]
)
def test_check_title_accepts_text(title: str) -> None:
    assert check_title(title) == title.strip()


def _error(r: object, reason: str) -> str:
    assert r.status_code == 422, r.text  # type: ignore[attr-defined]
    err = r.json()["error"]  # type: ignore[attr-defined]
    assert err["code"] == "invalid_title" and reason in err["message"], err
    return str(err["message"])


@pytest.mark.parametrize(("title", "reason"), HOSTILE_TITLES, ids=IDS)
def test_the_same_refusal_at_creation_and_in_a_patch(
    client: TestClient, title: str, reason: str
) -> None:
    created = client.post(
        "/api/v1/uploads",
        headers={
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": metadata(filename="a.mp4", title=title),
        },
    )
    at_creation = _error(created, reason)
    assert client.get("/api/v1/videos", params={"owner": "me"}).json()["items"] == []

    ok = client.post(
        "/api/v1/uploads",
        headers={
            **TUS,
            "Upload-Length": "10",
            "Upload-Metadata": metadata(filename="a.mp4", title="Fine"),
        },
    )
    assert ok.status_code == 201, ok.text
    video_id = ok.headers["Video-Id"]
    patched = client.patch(f"/api/v1/videos/{video_id}", json={"title": title})
    if len(title) > 300:  # the schema's bound answers first, as for every body field
        assert patched.status_code == 422
    else:
        assert _error(patched, reason) == at_creation
    assert client.get(f"/api/v1/videos/{video_id}").json()["title"] == "Fine"


def test_a_patched_title_is_stripped(client: TestClient) -> None:
    ok = client.post(
        "/api/v1/uploads",
        headers={**TUS, "Upload-Length": "10", "Upload-Metadata": metadata(filename="a.mp4")},
    )
    video_id = ok.headers["Video-Id"]
    r = client.patch(f"/api/v1/videos/{video_id}", json={"title": "  New name "})
    assert r.status_code == 200 and r.json()["title"] == "New name"
