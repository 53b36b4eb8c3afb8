"""Resumable uploads (tus 1.0.0) into durable storage, and their hand-off to the queue."""
