"""The chaos campaign: fault injection and the independent checker (issue 11)."""
