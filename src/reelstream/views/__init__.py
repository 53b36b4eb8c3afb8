"""Views and resume: player beacons, view counts aggregated in memory and written in batches,
and the resume position of signed-in users (``aggregator``, ``routes``)."""
