"""HTTP control plane: the video API, errors, ops endpoints."""
