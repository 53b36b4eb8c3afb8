"""The generated configuration, read as text: every policy is there, operator input is validated,
keys are embedded safely, and the edge's idea of a media URL is the origin's."""

from __future__ import annotations

import json
import re
import stat
import subprocess
from pathlib import Path

import pytest
from click.testing import CliRunner

from reelstream.cli.main import main
from reelstream.config import Settings
from reelstream.delivery import media
from reelstream.edge.config import EdgeConfig, edge_config, parse_listen, parse_upstream_url
from reelstream.edge.errors import EdgeConfigError
from reelstream.edge.render import MEDIA_REGEX, render, write
from tests.fixtures.nginx import require_nginx

KEYS = {"k1": "a" * 48, "k2": "b" * 48}


def _config(tmp_path: Path, **options: object) -> EdgeConfig:
    defaults: dict[str, object] = {
        "origins": ["http://127.0.0.1:9001", "http://10.0.0.2:9002"],
        "listen": "127.0.0.1:8080",
        "cache_dir": tmp_path / "cache",
        "prefix": tmp_path,
        "signing_keys": KEYS,
    }
    return edge_config(**{**defaults, **options})  # type: ignore[arg-type]


def _location(conf: str, kind: str) -> str:
    """The body of the cached media location for ``kind`` (playlist or segment)."""
    start = conf.index(f'location ~ "{MEDIA_REGEX[kind]}"')
    return conf[start : conf.index("\n        }\n", start)]


def test_every_policy_is_in_the_configuration(tmp_path: Path) -> None:
    conf = render(_config(tmp_path, playlist_ttl="3s"), tmp_path / "nginx.conf").nginx_conf
    for directive in (
        'load_module "/usr/lib/nginx/modules/ngx_http_js_module.so";',
        f'proxy_cache_path "{tmp_path / "cache"}" levels=1:2 keys_zone=reelstream_media:64m',
        "max_size=10g inactive=30d use_temp_path=off;",
        "hash $media_cache_key consistent;",
        "server 127.0.0.1:9001 max_fails=2 fail_timeout=2s;",
        "server 10.0.0.2:9002 max_fails=2 fail_timeout=2s;",
        "js_set $media_token_check reelstream_token.check;",
        'set $media_cache_key "/media/$media_vid/$media_rev/$media_path";',
        "listen 127.0.0.1:8080;",
        f'pid "{tmp_path}/nginx.pid";',
    ):
        assert directive in conf, directive
    # TCP_CORK held the tail of a cached segment for the 40 ms delayed-ACK timer (every HIT
    # after the second on a keep-alive connection): docs/performance.md
    assert "tcp_nopush off;" in conf and "tcp_nopush on" not in conf
    log_format = conf[conf.index("log_format") : conf.index("access_log")]
    for variable in ("$request_time", "$upstream_response_time", "$upstream_addr"):
        assert variable in log_format
    # the cache status ("none" where nothing is cached), the request id, the player's CMCD
    for variable in ("$edge_cache_status", "rid=$edge_request_id", 'cmcd="$arg_CMCD"'):
        assert variable in log_format
    assert "map $upstream_cache_status $edge_cache_status" in conf
    assert "$request_uri" not in log_format  # the token is a credential: logged as "-"

    playlist, segment = _location(conf, "playlist"), _location(conf, "segment")
    assert "proxy_cache_valid 200 206 3s;" in playlist
    assert "proxy_cache_valid 200 206 365d;" in segment
    # Immutable segments keep their files open between hits; playlists never (their TTL).
    assert "open_file_cache max=1000 inactive=60s;" in segment
    assert "open_file_cache" not in playlist
    for body in (playlist, segment):
        for directive in (
            'if ($media_token_check != "ok") {',
            "return 403 $media_token_check;",
            "proxy_pass http://reelstream_origins;",
            "proxy_cache reelstream_media;",
            "proxy_cache_key $media_cache_key;",
            "proxy_cache_lock on;",
            "proxy_cache_lock_timeout 10s;",
            "proxy_cache_use_stale error timeout updating http_500 http_502 http_503 http_504;",
            "proxy_cache_background_update on;",
            "proxy_next_upstream error timeout http_502 http_503 http_504;",
            "proxy_connect_timeout 1s;",
            "proxy_ignore_headers Cache-Control Expires Set-Cookie",
            "proxy_hide_header Set-Cookie;",
            "add_header X-Cache-Status $upstream_cache_status always;",
        ):
            assert directive in body, (directive, body)
        # The token check comes before anything is served, cached or not.
        assert body.index("return 403") < body.index("proxy_pass")


def test_the_cache_key_never_contains_the_token(tmp_path: Path) -> None:
    conf = render(_config(tmp_path), tmp_path / "nginx.conf").nginx_conf
    keys = re.findall(r"set \$media_cache_key (.*);", conf)
    assert keys == ['""'] + ['"/media/$media_vid/$media_rev/$media_path"'] * 2
    assert re.findall(r"proxy_cache_key (.*);", conf) == ["$media_cache_key"] * 2


def test_api_upstreams_default_to_the_origins(tmp_path: Path) -> None:
    conf = render(_config(tmp_path), tmp_path / "nginx.conf").nginx_conf
    api = conf[conf.index("upstream reelstream_api") :]
    assert "server 127.0.0.1:9001" in api[: api.index("}")]
    conf = render(
        _config(tmp_path, apis=["http://api-1.internal:8000"]), tmp_path / "nginx.conf"
    ).nginx_conf
    api = conf[conf.index("upstream reelstream_api") :]
    assert "server api-1.internal:8000" in api[: api.index("}")]
    assert "9001" not in api[: api.index("}")]


def test_keys_are_embedded_as_json_and_kept_out_of_nginx_conf(tmp_path: Path) -> None:
    awkward = "q\"uote'back\\slash\n$var;{}</script>\u2028é€ */ ${x}"
    files = write(
        _config(tmp_path, signing_keys={"k1": awkward, "old": "o" * 40}), tmp_path / "e.conf"
    )
    m = re.search(r"^var KEYS = (.*);$", files.token_js, re.MULTILINE)
    assert m is not None
    assert m.group(1).isascii()
    assert json.loads(m.group(1)) == {"k1": awkward, "old": "o" * 40}
    assert files.token_js.count("\n") == files.token_js.replace(awkward, "").count("\n")
    conf_text = files.conf_path.read_text()
    assert "o" * 40 not in conf_text
    assert "slash" not in conf_text
    assert stat.S_IMODE(files.js_path.stat().st_mode) == 0o600
    assert stat.S_IMODE(files.conf_path.stat().st_mode) == 0o644
    assert f'js_import reelstream_token from "{files.js_path}";' in conf_text


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("ftp://10.0.0.1:21", "must start with http://"),
        ("https://origin.internal", "must start with http://"),
        ("10.0.0.1:8000", "must start with http://"),
        ("http://", "has no host"),
        ("http://10.0.0.1:8000/media", "without a path or query"),
        ("http://10.0.0.1:8000/?x=1", "without a path or query"),
        ("http://user:pw@10.0.0.1:8000", "credentials"),
        ("http://10.0.0.1:99999", "not a valid URL"),
        ("http://10.0.0.1:0", "outside 1-65535"),
        ("http://bad_host;evil:80", "invalid host name"),
        ("http://exa mple.com", "invalid host name"),
        ("http://-leading.example", "invalid host name"),
    ],
)
def test_invalid_origin_urls_are_refused(url: str, reason: str) -> None:
    with pytest.raises(EdgeConfigError, match=re.escape(reason)) as exc:
        parse_upstream_url(url)
    assert repr(url) in exc.value.message


def test_valid_upstreams_and_listen_addresses() -> None:
    assert parse_upstream_url("http://10.0.0.5:8000/").address == "10.0.0.5:8000"
    assert parse_upstream_url("http://Origin-1.Internal").address == "origin-1.internal:80"
    assert parse_upstream_url("http://[::1]:9001").address == "[::1]:9001"
    assert parse_listen("8080") == "8080"
    assert parse_listen("0.0.0.0:80") == "0.0.0.0:80"
    assert parse_listen("[::]:8080") == "[::]:8080"
    for bad in ("", "host", "1.2.3.4:", "1.2.3.4:70000", "a;b:80"):
        with pytest.raises(EdgeConfigError):
            parse_listen(bad)


@pytest.mark.parametrize(
    ("options", "reason"),
    [
        ({"origins": []}, "at least one origin"),
        ({"origins": ["http://a:1", "http://a:1/"]}, "listed twice"),
        ({"signing_keys": {}}, "no signing keys"),
        ({"signing_keys": {"k-1": "x" * 40}}, "letters or digits"),
        ({"cache_size": "10 GB"}, "cache size"),
        ({"cache_size": "10g;"}, "cache size"),
        ({"playlist_ttl": "2 s"}, "playlist TTL"),
        ({"segment_ttl": "$x"}, "segment TTL"),
        ({"user": "root; daemon off"}, "worker user"),
        ({"cache_dir": Path("/tmp/x;y")}, "contains ';'"),
        ({"cache_dir": Path('/tmp/x"y')}, "contains '\"'"),
        ({"prefix": Path("/tmp/$edge")}, "contains '$'"),
        ({"open_files": 0}, "open_files"),
    ],
)
def test_unsafe_options_are_refused(
    tmp_path: Path, options: dict[str, object], reason: str
) -> None:
    with pytest.raises(EdgeConfigError, match=re.escape(reason)):
        _config(tmp_path, **options)


MEDIA_PATHS = [
    "master.m3u8",
    "poster.jpg",
    "v360/index.m3u8",
    "v360/init.mp4",
    "v360/seg_00001.m4s",
    "audio/INDEX.M3U8",
    "dash/manifest.mpd",
    "a/b/c/d.m4s",
    "a/b/c/d/e.m4s",  # too deep
    "../x.m4s",
    "v360/../x.m4s",
    "a..b.m4s",
    ".hidden",
    "v360//seg.m4s",
    "v360/",
    "x" * 129,
    "x" * 128,
    "seg%2F1.m4s",
    "seg 1.m4s",
    "m3u8",
]


@pytest.mark.parametrize("path", MEDIA_PATHS)
def test_the_edge_caches_exactly_what_the_origin_serves(path: str) -> None:
    """nginx (PCRE) and the origin agree on which paths are media, and which are playlists."""
    vid, rev, token = "A" * 16, "a" * 12, "k1.1.sig"
    uri = f"/media/{vid}/{rev}/{token}/{path}"
    pcre = {k: re.compile(v.replace("(?<", "(?P<")) for k, v in MEDIA_REGEX.items()}
    playlist, segment = (pcre[k].fullmatch(uri) for k in ("playlist", "segment"))
    assert (segment is not None) is media.is_valid_location(vid, rev, path)
    assert (playlist is not None) is (
        media.is_valid_location(vid, rev, path)
        and media.cache_control(path) == media.MANIFEST_CACHE
    )
    if segment is not None:
        assert segment["media_path"] == path
        assert segment["media_token"] == token


def test_cli_writes_a_configuration_nginx_accepts(tmp_path: Path) -> None:
    nginx = require_nginx()
    data_dir = tmp_path / "data"
    out = tmp_path / "etc" / "edge.conf"
    args = ["edge-config", "--origin", "http://127.0.0.1:9001", "--origin", "http://127.0.0.1:9002"]
    args += ["--api", "http://127.0.0.1:9000", "--listen", "127.0.0.1:18080"]
    args += ["--cache-dir", str(tmp_path / "cache"), "--cache-size", "1g"]
    args += ["--out", str(out), "--prefix", str(tmp_path / "state"), "--data-dir", str(data_dir)]
    result = CliRunner().invoke(main, args, env={"REELSTREAM_ENV": "development"})
    assert result.exit_code == 0, result.output
    assert "nginx -t: configuration OK" in result.output
    js = out.with_name("edge.conf.token.js")
    assert stat.S_IMODE(js.stat().st_mode) == 0o600
    # The key the origins of this data dir use is the key the edge checks tokens with.
    settings = Settings(env="development", data_dir=data_dir, _env_file=None)
    settings.prepare()
    key = settings.signing_keys["k1"].get_secret_value()
    assert json.dumps(key) in js.read_text()
    check = subprocess.run(
        [nginx, "-t", "-c", str(out), "-p", str(tmp_path / "state"), "-e", "stderr"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert check.returncode == 0, check.stderr
    assert "test is successful" in check.stderr


def test_cli_refuses_a_bad_origin_with_a_clear_message(tmp_path: Path) -> None:
    args = ["edge-config", "--origin", "https://origin:9001", "--cache-dir", str(tmp_path / "c")]
    args += ["--out", str(tmp_path / "edge.conf"), "--data-dir", str(tmp_path / "data")]
    args += ["--no-check"]
    result = CliRunner().invoke(main, args, env={"REELSTREAM_ENV": "development"})
    assert result.exit_code == 2
    assert "must start with http://" in result.output
    assert not (tmp_path / "edge.conf").exists()
