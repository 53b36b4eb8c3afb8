"""A player's buffer, in media seconds, on a clock the caller passes in (so tests need no sleep).

Playback starts once ``start_after`` segments are buffered (startup time = from the session's
start to then). While playing, the buffer drains at wall-clock speed; when it empties before
the last segment was downloaded, playback stalls (one stall) until ``resume_after`` more
segments arrived. Rebuffer ratio = stall time / (play time + stall time).
"""

from __future__ import annotations


class BufferModel:
    def __init__(self, start_at: float, *, start_after: int = 2, resume_after: int = 1) -> None:
        self.start_at = start_at
        self.start_after = start_after
        self.resume_after = resume_after
        self.last = start_at
        self.buffered_s = 0.0
        self.playing = False
        self.startup_s: float | None = None
        self.stalls = 0
        self.stall_s = 0.0
        self.play_s = 0.0
        self.complete = False  # every segment downloaded
        self.finished = False  # played to the end
        self._stalled_since: float | None = None
        self._segments = 0  # since the start, or since the stall began

    @property
    def started(self) -> bool:
        return self.startup_s is not None

    @property
    def stalled(self) -> bool:
        return self._stalled_since is not None

    def advance(self, now: float) -> None:
        """Play from the last update to ``now``."""
        elapsed = max(0.0, now - self.last)
        if self.playing and elapsed > 0:
            played = min(elapsed, self.buffered_s)
            self.play_s += played
            self.buffered_s -= played
            if played < elapsed:  # the buffer ran dry at last + played
                self.playing = False
                if self.complete:
                    self.finished = True
                else:
                    self.stalls += 1
                    self._stalled_since = self.last + played
                    self._segments = 0
        self.last = max(self.last, now)

    def add_segment(self, now: float, duration_s: float) -> None:
        """A segment of ``duration_s`` finished downloading at ``now``."""
        self.advance(now)
        self.buffered_s += duration_s
        self._segments += 1
        if not self.started:
            if self._segments >= self.start_after:
                self._start(now)
        elif self.stalled and self._segments >= self.resume_after:
            self._resume(now)

    def mark_complete(self, now: float) -> None:
        """The last segment is in: what is buffered plays out, whatever the thresholds."""
        self.advance(now)
        self.complete = True
        if self.buffered_s > 0:
            if not self.started:
                self._start(now)
            elif self.stalled:
                self._resume(now)

    def wait_s(self, max_buffer_s: float) -> float:
        """How long until the buffer drops to ``max_buffer_s`` (0 if it already is)."""
        if not self.playing:
            return 0.0
        return max(0.0, self.buffered_s - max_buffer_s)

    def close(self, now: float) -> None:
        """The viewer leaves at ``now``: count the stall it is in, if any."""
        self.advance(now)
        if self._stalled_since is not None:
            self.stall_s += now - self._stalled_since
            self._stalled_since = None
        self.playing = False

    @property
    def rebuffer_ratio(self) -> float:
        total = self.play_s + self.stall_s
        return self.stall_s / total if total > 0 else 0.0

    def _start(self, now: float) -> None:
        self.startup_s = now - self.start_at
        self.playing = True

    def _resume(self, now: float) -> None:
        assert self._stalled_since is not None
        self.stall_s += now - self._stalled_since
        self._stalled_since = None
        self.playing = True
