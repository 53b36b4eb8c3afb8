"""Viewer quality of experience (QoE): what the player measured in each session (startup,
rebuffering, bitrate, failures, exits before start), kept per session, summed per video and
overall for the admins, and exported as ``reelstream_player_*`` metrics (docs/admin.md)."""
