"""Edge tier errors.

ReelstreamError
└── EdgeError
    ├── EdgeConfigError     an option cannot make a safe nginx configuration (bad origin URL,
    │                       listen address, size, duration or path)
    └── NginxCheckFailed    ``nginx -t`` refused the written configuration (carries its output)
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class EdgeError(ReelstreamError):
    code = "edge_error"


class EdgeConfigError(EdgeError):
    code = "edge_config_invalid"


class NginxCheckFailed(EdgeError):
    code = "edge_nginx_check_failed"
