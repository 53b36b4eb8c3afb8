"""Authentication and authorisation: signed playback tokens (accounts come later)."""
