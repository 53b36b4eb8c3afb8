from __future__ import annotations

import base64
import hashlib
import hmac
import re
from pathlib import Path
from typing import Any

from reelstream.webhooks.signing import new_secret, sign_headers, verify


def test_signature_is_hmac_sha256_over_id_timestamp_body() -> None:
    secret = new_secret()
    body = b'{"id":"evt_1","type":"video.ready"}'
    headers = sign_headers(secret, "evt_1", body, now=1_800_000_000)
    assert headers["Webhook-Id"] == "evt_1"
    assert headers["Webhook-Timestamp"] == "1800000000"
    mac = hmac.new(secret.encode(), b"evt_1.1800000000." + body, hashlib.sha256).digest()
    assert headers["Webhook-Signature"] == "v1," + base64.b64encode(mac).decode()
    assert verify(secret, headers, body, now=1_800_000_100)


def test_verification_refuses_tampering_other_secrets_and_old_timestamps() -> None:
    secret = new_secret()
    body = b'{"a":1}'
    headers = sign_headers(secret, "evt_2", body, now=1_800_000_000)
    assert not verify(secret, headers, b'{"a":2}', now=1_800_000_000)
    assert not verify(new_secret(), headers, body, now=1_800_000_000)
    assert not verify(secret, {**headers, "Webhook-Id": "evt_3"}, body, now=1_800_000_000)
    assert not verify(secret, headers, body, now=1_800_000_000 + 301)  # replay, 5 min later
    assert not verify(secret, headers, body, now=1_800_000_000 - 301)
    assert not verify(secret, {**headers, "Webhook-Timestamp": "soon"}, body)
    # several signatures (a receiver rotating secrets): one valid one is enough
    several = {**headers, "Webhook-Signature": "v1,AAAA " + headers["Webhook-Signature"]}
    assert verify(secret, several, body, now=1_800_000_000)


def test_secrets_are_random_and_prefixed() -> None:
    a, b = new_secret(), new_secret()
    assert a != b
    assert a.startswith("whsec_") and len(a) > 40


def test_the_verification_sample_in_the_docs_works() -> None:
    text = (Path(__file__).parents[2] / "docs" / "webhooks.md").read_text()
    sample = re.search(r"```python\n(.*?)```", text, re.S)
    assert sample is not None
    scope: dict[str, Any] = {}
    exec(sample.group(1), scope)
    secret = new_secret()
    body = b'{"id":"evt_9"}'
    headers = {k.lower(): v for k, v in sign_headers(secret, "evt_9", body).items()}
    assert scope["verify"](secret, headers, body)
    assert not scope["verify"](secret, headers, body + b" ")
    old = {k.lower(): v for k, v in sign_headers(secret, "evt_9", body, now=1_000).items()}
    assert not scope["verify"](secret, old, body)
