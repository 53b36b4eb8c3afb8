"""The media library: pure functions over media files, no database, settings or HTTP.

It imports nothing from reelstream but ``reelstream.errors`` and ``reelstream.formatting``;
callers pass small frozen option values (``options.py``) built from their settings.

options.py     the option values (ffmpeg binary and threads, probe limits, encoding knobs)
probe.py       sniff the container, open it safely with PyAV, validate (InvalidMedia)
ladder.py      pick the renditions for a source (pure)
ffmpeg.py      the ffmpeg commands (``build_ladder_argv``, storyboard tiling, poster) and runner
mp4.py         the ISO-BMFF boxes packaging reads (codec strings, timescales, segment timing)
layout.py      what one rev holds (``Layout``) and the file names inside it
packaging.py   measure what ffmpeg wrote into a ``Layout``
hls.py         the HLS master playlist (audio, subtitles, audio-only rung) and subtitle playlists
dash.py        the DASH MPD over the same CMAF segments
storyboard.py  seek-preview sprite sheets and their WebVTT index
captions.py    WebVTT / SRT parsing, validation and conversion
errors.py      the exception tree
"""
