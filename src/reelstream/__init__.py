"""reelstream: a self-hostable, fault-tolerant video-on-demand streaming platform."""

__version__ = "0.1.0"
