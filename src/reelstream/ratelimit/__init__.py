"""Rate limiting: per-IP and per-account limits on logins, sign-ups, upload creation, API
writes, API reads and player beacons, with the ``limits`` library
(``reelstream.ratelimit.limiter``) and one FastAPI dependency per category
(``reelstream.ratelimit.deps``). See docs/limits.md."""

from reelstream.ratelimit.errors import RateLimited
from reelstream.ratelimit.limiter import CATEGORIES, Category, RateLimiter, Verdict

__all__ = ["CATEGORIES", "Category", "RateLimited", "RateLimiter", "Verdict"]
