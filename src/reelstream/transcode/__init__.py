"""Transcoding: probe and validate sources, run the ffmpeg ladder, package HLS, publish.

probe.py      sniff the container, open it safely with PyAV, validate (InvalidMedia)
ladder.py     pick the renditions for a source (pure)
ffmpeg.py     the ffmpeg commands (``build_ladder_argv``) and the process runner
packaging.py  measure the renditions and write master.m3u8
pipeline.py   one attempt under a lease: fetch, probe, encode, upload, publish
worker.py     the worker pool (claim loops, reaper, graceful stop) and ``reelstream worker``
errors.py     the exception tree
"""
