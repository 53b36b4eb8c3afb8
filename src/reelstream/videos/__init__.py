"""The video feature: repository, cache and its invalidation hook, service, API routes,
schemas and presenters."""
