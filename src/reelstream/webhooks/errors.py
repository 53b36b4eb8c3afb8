"""Webhook errors.

ReelstreamError
└── WebhookError
    ├── WebhookNotFound        404: no such endpoint (or another user's)
    └── InvalidWebhook         422: a bad URL, event type or description
"""

from __future__ import annotations

from reelstream.errors import ReelstreamError


class WebhookError(ReelstreamError):
    code = "webhook_error"


class WebhookNotFound(WebhookError):
    code = "webhook_not_found"
    status = 404


class InvalidWebhook(WebhookError):
    code = "invalid_webhook"
    status = 422
