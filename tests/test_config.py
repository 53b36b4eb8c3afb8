"""Settings: safe defaults, generated secrets, placeholders refused outside development."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from pydantic import SecretStr, ValidationError

from reelstream.config import Settings
from reelstream.errors import ConfigError


def _settings(tmp_path: Path, **kw: object) -> Settings:
    return Settings(data_dir=tmp_path / "d", _env_file=None, **kw)  # type: ignore[arg-type]


def test_a_signing_key_is_generated_once_and_kept_private(tmp_path: Path) -> None:
    first = _settings(tmp_path)
    first.prepare()
    key_file = tmp_path / "d/secrets/signing.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    second = _settings(tmp_path)
    second.prepare()
    key = first.signing_keys["k1"].get_secret_value()
    assert key == second.signing_keys["k1"].get_secret_value()
    assert len(first.signing_keys["k1"].get_secret_value()) >= 48


def test_placeholder_secret_refused_in_production(tmp_path: Path) -> None:
    s = _settings(tmp_path, env="production", signing_keys={"k1": SecretStr("changeme")})
    with pytest.raises(ConfigError, match="placeholder"):
        s.prepare()


def test_placeholder_secret_allowed_in_development(tmp_path: Path) -> None:
    s = _settings(tmp_path, env="development", signing_keys={"k1": SecretStr("dev")})
    s.prepare()


def test_active_key_must_exist(tmp_path: Path) -> None:
    s = _settings(tmp_path, signing_keys={"k2": SecretStr("x" * 40)}, signing_key_id="k1")
    with pytest.raises(ConfigError):
        s.prepare()


def test_segments_must_hold_whole_gops(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="multiple of gop_s"):
        _settings(tmp_path, segment_s=5, gop_s=2)


def test_heartbeat_must_fit_in_the_lease(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="half of lease_s"):
        _settings(tmp_path, lease_s=10, heartbeat_s=6)


def test_ladder_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(
        "REELSTREAM_LADDER",
        '[{"height": 720, "video_kbps": 3000}, {"height": 360, "video_kbps": 700}]',
    )
    s = _settings(tmp_path)
    assert [r.height for r in s.ladder] == [360, 720]


def test_signing_key_creation_time_for_the_rotation_alert(tmp_path: Path) -> None:
    """``reelstream_signing_key_created_timestamp_seconds``: the configured date, else a
    generated key's file time; a configured key of unknown age exports nothing."""
    key = {"k2": SecretStr("x" * 40)}
    dated = _settings(
        tmp_path, signing_keys=key, signing_key_id="k2", signing_key_created="2026-01-02"
    )
    assert dated.signing_key_created_ts() == 1767312000.0
    undated = _settings(tmp_path, signing_keys=key, signing_key_id="k2")
    assert undated.signing_key_created_ts() is None
    generated = _settings(tmp_path)
    generated.prepare()
    file = tmp_path / "d" / "secrets" / "signing.key"
    assert generated.signing_key_created_ts() == file.stat().st_mtime
