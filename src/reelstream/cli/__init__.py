"""The ``reelstream`` command line."""
