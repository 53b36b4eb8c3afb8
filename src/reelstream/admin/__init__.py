"""Operating the platform: the admin API (``reelstream.admin.routes``: jobs, retries, workers,
users' storage and quota overrides) and its queries (``reelstream.admin.service``). The admin
page (``/admin``) is ``reelstream.web.admin``. See docs/admin.md."""
