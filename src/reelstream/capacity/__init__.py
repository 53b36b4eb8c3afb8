"""``reelstream capacity``: the capacity and cost model (a pure feature package, no I/O but
reading the record of measured figures).

- ``inputs``: what is asked (users, views, uploads, the ladder, skew, hit ratio, replicas,
  regions, peak ratio, retention, price overrides), with defaults and bounds;
- ``prices``: the default list prices, each with its source and date;
- ``measured``: this project's per-core figures, read from src/reelstream/capacity/measured.json;
- ``model``: loads, bandwidth, storage, transcode; ``nodes``: nodes per tier; ``results``: the
  outputs with their sources; ``costs``: the monthly bill;
  ``popularity``: the Zipf hot-set share.

The CLI (``reelstream.cli.capacity``) and the admin page (``reelstream.web.capacity``) both call
``estimate``; docs/capacity.md writes every formula out.
"""
