"""Webhooks: owners register endpoints; state changes are delivered to them, signed.

* ``events``: the transactional outbox (``emit`` in the state change's own transaction);
* ``endpoints``: registering, listing, removing endpoints; reading their deliveries;
* ``urls``: which URLs may receive deliveries;
* ``signing``: the ``Webhook-Signature`` scheme (and ``verify``, what a receiver does);
* ``dispatcher``: the worker-side loop that claims, sends and retries deliveries;
* ``routes``: the ``/api/v1/webhooks`` API.

See docs/webhooks.md.
"""

from reelstream.webhooks.events import EVENT_TYPES, emit

__all__ = ["EVENT_TYPES", "emit"]
