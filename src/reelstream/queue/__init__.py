"""Durable jobs on the metadata database: enqueue, claim under a lease, heartbeat, finish, reap."""

from reelstream.queue.jobs import JobQueue, Lease
from reelstream.queue.retry import RetryPolicy

__all__ = ["JobQueue", "Lease", "RetryPolicy"]
