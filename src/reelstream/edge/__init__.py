"""The edge (caching) tier: an nginx configuration in front of several origins.

``reelstream edge-config`` builds an ``EdgeConfig`` (``reelstream.edge.config``) from options
and the signing keys, renders it (``reelstream.edge.render``) into a complete ``nginx.conf`` plus
an njs script that verifies playback tokens at the edge, and checks the result with
``nginx -t``. See docs/deploy.md, section "Edge tier (nginx)".
"""
