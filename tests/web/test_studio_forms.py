"""The studio's forms without a browser: what each form accepts and the reason it refuses
(``reelstream.web.studio_forms``)."""

from __future__ import annotations

import pytest

from reelstream.web.studio_forms import (
    FormInvalid,
    csrf_of_caption_form,
    parse_caption_form,
    parse_edit,
    parse_poster,
)

pytestmark = pytest.mark.timeout(10)

VTT = b"WEBVTT\n\n00:00.000 --> 00:01.000\nhello\n"
BOUNDARY = "studio-test-boundary"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"


def multipart(fields: dict[str, str], file: tuple[str, bytes] | None = None) -> bytes:
    out = b""
    for name, value in fields.items():
        out += (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'
        ).encode()
    if file is not None:
        filename, data = file
        out += (
            (
                f"--{BOUNDARY}\r\nContent-Disposition: form-data; "
                f'name="file"; filename="{filename}"\r\nContent-Type: text/vtt\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    return out + f"--{BOUNDARY}--\r\n".encode()


def test_the_edit_form_is_the_patch_body() -> None:
    patch = parse_edit(
        {"title": ["New title"], "description": ["line 1\r\nline 2"], "visibility": ["private"]}
    )
    assert (patch.title, patch.description, patch.visibility) == (
        "New title",
        "line 1\nline 2",
        "private",
    )
    only_title = parse_edit({"title": ["x"], "csrf_token": ["t"]})  # other fields: unchanged
    assert only_title.description is None and only_title.visibility is None


@pytest.mark.parametrize(
    ("form", "reason"),
    [
        ({"title": [""]}, "The title: String should have at least 1 character"),
        ({"title": ["x" * 301]}, "The title: String should have at most 300 characters"),
        ({"visibility": ["secret"]}, "Visibility: Input should be 'public', 'unlisted'"),
        ({"description": ["d" * 5001]}, "The description: String should have at most 5000"),
    ],
)
def test_the_edit_form_refuses_with_the_reason(form: dict[str, list[str]], reason: str) -> None:
    with pytest.raises(FormInvalid) as refused:
        parse_edit(form)
    assert refused.value.status == 422
    assert reason in refused.value.message


def test_the_poster_form_takes_seconds() -> None:
    assert parse_poster({"at_s": ["2.5"]}) == 2.5
    assert parse_poster({"at_s": ["0"]}) == 0.0
    for bad, reason in (
        ("", "choose a thumbnail"),
        ("soon", "is not a time in seconds"),
        ("-1", "is not a time in seconds"),
    ):
        with pytest.raises(FormInvalid, match=reason):
            parse_poster({"at_s": [bad]})
    with pytest.raises(FormInvalid, match="choose a thumbnail"):
        parse_poster({})


def test_the_caption_form_reads_its_parts() -> None:
    body = multipart({"csrf_token": "tok", "lang": "pt-BR", "label": "Português"}, ("a.vtt", VTT))
    form = parse_caption_form(MULTIPART, body)
    assert (form.csrf_token, form.lang, form.label, form.data) == ("tok", "pt-BR", "Português", VTT)
    assert csrf_of_caption_form(MULTIPART, body) == "tok"
    no_label = parse_caption_form(MULTIPART, multipart({"lang": "en"}, ("b.SRT", b"1\n")))
    assert no_label.label is None and no_label.csrf_token == ""


@pytest.mark.parametrize(
    ("content_type", "body", "reason"),
    [
        (MULTIPART, multipart({"lang": "en"}), "choose a caption file"),
        (MULTIPART, multipart({"lang": "en"}, ("a.vtt", b"")), "choose a caption file"),
        (MULTIPART, multipart({"lang": "en"}, ("notes.txt", VTT)), "is not a .vtt or .srt"),
        (MULTIPART, multipart({"lang": " "}, ("a.vtt", VTT)), "give the language"),
        ("application/x-www-form-urlencoded", b"lang=en", "multipart/form-data"),
        ("text/vtt", VTT, "multipart/form-data"),
    ],
)
def test_the_caption_form_refuses_with_the_reason(
    content_type: str, body: bytes, reason: str
) -> None:
    with pytest.raises(FormInvalid, match=reason):
        parse_caption_form(content_type, body)


def test_no_csrf_token_in_a_body_that_is_not_a_form() -> None:
    assert csrf_of_caption_form("text/plain", b"csrf_token=x") == ""
    assert csrf_of_caption_form(MULTIPART, b"garbage") == ""
