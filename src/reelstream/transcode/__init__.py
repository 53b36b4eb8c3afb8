"""Transcoding: probe and validate sources, run the ffmpeg ladder, package HLS, publish."""
