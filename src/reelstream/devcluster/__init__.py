"""Real engines on one machine: launchers for PostgreSQL, Redis, Swift and nginx, and the local
cluster (``reelstream cluster up``) built from them. The test fixtures use the same launchers."""
