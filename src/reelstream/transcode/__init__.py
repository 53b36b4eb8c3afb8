"""Transcoding: probe and validate sources, run the ffmpeg ladder, package HLS and DASH, publish.

probe.py       sniff the container, open it safely with PyAV, validate (InvalidMedia)
ladder.py      pick the renditions for a source (pure)
ffmpeg.py      the ffmpeg commands (``build_ladder_argv``, storyboard tiling, poster) and runner
mp4.py         the ISO-BMFF boxes packaging reads (codec strings, timescales, segment timing)
packaging.py   measure what ffmpeg wrote into a ``Layout`` (layout.py)
hls.py         the HLS master playlist (audio, subtitles, audio-only rung) and subtitle playlists
dash.py        the DASH MPD over the same CMAF segments
storyboard.py  seek-preview sprite sheets and their WebVTT index
captions.py    WebVTT / SRT parsing, validation and conversion
publishing.py  write a rev's manifests; add/remove captions on a published video
pipeline.py    one transcode attempt under a lease: fetch, probe, encode, upload, publish
poster.py      the ``poster`` job: a new poster at a chosen time
worker.py      the worker pool (claims by job kind, reaper, graceful stop), ``reelstream worker``
errors.py      the exception tree
"""
