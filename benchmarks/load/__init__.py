"""The load harness: a realistic mix of viewers, API clients and tus uploaders against a base URL.

``python -m benchmarks.load --base-url http://127.0.0.1:8000`` (an embedded ``reelstream serve``)
or ``--cluster data/cluster/cluster.json`` (the local cluster's edge). One module per concern:

* ``config``      the command line and the run's settings (every loop bounded in time and count)
* ``profile``     the offered load over time: steady, or a 10x spike (before / during / after)
* ``arrivals``    Poisson arrivals following a rate that changes with the profile
* ``zipf``        the catalogue's skewed popularity, seeded
* ``catalogue``   the ready videos (listed through the API, or generated and uploaded first)
* ``hls``         master and media playlists, and the rung a viewer picks from its throughput
* ``buffer``      a player's buffer: startup after 2 segments, stalls, rebuffer ratio
* ``viewers``     viewers that play at real-time pace through playback URL, playlists, segments
* ``api_clients`` open-loop list/get/playback/patch at configured rates
* ``tus``         a small async tus client that can drop a PATCH mid-body and resume
* ``uploaders``   uploads with interruptions; records the acknowledged ones
* ``server``      samples the servers' /metrics every second
* ``recorder``    everything measured, as plain records
* ``report``      per-phase percentiles and counts: a table and a JSON document
* ``runner``      runs the actors together until the deadline or the request budget
"""
