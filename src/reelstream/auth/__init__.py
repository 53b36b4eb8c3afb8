"""Authentication and authorization: accounts and passwords, web sessions with CSRF tokens,
personal access tokens, the authorization policy table, and signed playback tokens."""
