"""Origin delivery: signed playlists, segments and posters from the blob store."""
