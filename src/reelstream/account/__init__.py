"""The signed-in user's own account over the API: password and sessions (``/api/v1/me/...``)."""
