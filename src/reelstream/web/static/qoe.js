/* Viewer QoE for the player (player.js): what one player session experienced, measured from
 * the <video> element's events and the engine's rendition changes, reported as cumulative
 * figures to POST /api/v1/videos/{id}/qoe (docs/api.md, "QoE beacon"; docs/admin.md defines
 * each figure).
 *
 * - play intent: the player was asked to play (start(), autoplay) or, when autoplay was
 *   refused, the viewer's first play;
 * - startup_s: play intent -> the first `playing` (the first frame shows);
 * - watch_s: time after the first frame while not paused (playing or stalled);
 * - rebuffer_s / rebuffer_count: stalls (`waiting`) after the first frame, except while a
 *   seek is being served (a seek's wait is not a rebuffer), until the next `playing`;
 * - switches: rendition changes after the first one;
 * - bitrate_bps: the rendition's declared bitrate, averaged over the time played (stalls
 *   excluded);
 * - upscale_pct: how much larger the picture is shown than its rendition decodes it
 *   (device pixels / videoHeight - 1, in %), averaged over the time played;
 * - error: the first fatal error as a short code (engine:type:details), never a message;
 * - exited: the page was hidden or left after play intent but before the first frame.
 *
 * Reports go on the first frame, every 30 s while playing, on a fatal error, at the end and
 * when the page is hidden or left; each carries everything so far (the server keeps the
 * latest per session and counts it once), so a lost report costs nothing.
 *
 * API: window.ReelstreamQoE(videoEl, send) -> tracker {intent, noIntent, engine, rendition,
 *   fatal, figures, report}; send(fields) posts one report.
 */
(function () {
  "use strict";

  var REPORT_MS = 30000;
  var MAX_STARTUP_S = 600;

  function code(text) {
    var c = String(text || "error").replace(/[^A-Za-z0-9_.:-]/g, "_").slice(0, 64);
    return /^[A-Za-z]/.test(c) ? c : ("e" + c).slice(0, 64);
  }

  function create(videoEl, send) {
    var now = function () { return window.performance.now(); };
    var s = {
      engine: "", intentAt: null, firstFrameAt: null, startup: null,
      activeSince: null, lastTick: null, watchMs: 0,
      stallSince: null, rebufferMs: 0, rebuffers: 0, seeking: false,
      bitrate: 0, renditionId: null, switches: 0,
      playedMs: 0, bitrateSum: 0, upscaleSum: 0,
      error: null, exited: false, reports: 0,
    };

    function upscale() {
      var vh = videoEl.videoHeight, vw = videoEl.videoWidth;
      if (!(vh > 0 && vw > 0)) return 0;
      var rect = videoEl.getBoundingClientRect();
      var scale = Math.min(rect.width / vw, rect.height / vh);  // object-fit: contain
      var shown = scale * (window.devicePixelRatio || 1);
      return Math.min(1000, Math.max(0, (shown - 1) * 100));
    }

    function tick() {
      var t = now();
      if (s.activeSince !== null && s.lastTick !== null) {
        var dt = t - s.lastTick;
        s.watchMs += dt;
        if (s.stallSince === null) {
          s.playedMs += dt;
          s.bitrateSum += s.bitrate * dt;
          s.upscaleSum += upscale() * dt;
        }
      }
      s.lastTick = t;
      return t;
    }

    function endStall(t, counts) {
      if (s.stallSince === null) return;
      if (counts) s.rebufferMs += t - s.stallSince;
      s.stallSince = null;
    }

    function figures() {
      var t = tick();
      var started = s.firstFrameAt !== null;
      var stalled = s.stallSince !== null ? t - s.stallSince : 0;
      var f = {
        engine: s.engine,
        started: started ? "1" : "0",
        watch_s: (s.watchMs / 1000).toFixed(3),
        rebuffer_s: (Math.min(s.rebufferMs + stalled, s.watchMs) / 1000).toFixed(3),
        rebuffer_count: String(s.rebuffers),
        switches: String(s.switches),
        bitrate_bps: String(Math.round(s.playedMs > 0 ? s.bitrateSum / s.playedMs : s.bitrate)),
        upscale_pct: (s.playedMs > 0 ? s.upscaleSum / s.playedMs : 0).toFixed(2),
      };
      if (started) f.startup_s = s.startup.toFixed(3);
      if (s.error) f.error = s.error;
      if (s.exited && !started) f.exited = "1";
      return f;
    }

    function report() {
      if (s.intentAt === null && s.error === null) return;  // no session to speak of
      s.reports++;
      send(figures());
    }

    function intent() {
      if (s.intentAt === null) s.intentAt = now();
    }

    videoEl.addEventListener("play", intent);
    videoEl.addEventListener("playing", function () {
      var t = tick();
      if (s.firstFrameAt === null && s.intentAt !== null) {
        s.firstFrameAt = t;
        s.startup = Math.min(MAX_STARTUP_S, (t - s.intentAt) / 1000);
        s.activeSince = t;
        report();
      }
      endStall(t, !s.seeking);
      s.seeking = false;
      if (s.firstFrameAt !== null && s.activeSince === null) s.activeSince = t;
    });
    videoEl.addEventListener("waiting", function () {
      var t = tick();
      if (s.firstFrameAt === null || s.seeking || videoEl.seeking || videoEl.paused) return;
      if (videoEl.ended || s.stallSince !== null) return;
      s.stallSince = t;
      s.rebuffers++;
    });
    videoEl.addEventListener("seeking", function () {
      endStall(tick(), true);
      s.seeking = true;
    });
    videoEl.addEventListener("seeked", function () {
      if (videoEl.readyState >= 3) s.seeking = false;  // else: until it can play again
    });
    videoEl.addEventListener("canplay", function () { s.seeking = false; });
    function stop() {
      endStall(tick(), true);
      s.activeSince = null;
    }
    videoEl.addEventListener("pause", stop);
    videoEl.addEventListener("ended", function () { stop(); report(); });
    window.setInterval(function () {
      if (s.firstFrameAt !== null && s.activeSince !== null) report();
    }, REPORT_MS);
    function leaving() {
      if (s.intentAt !== null && s.firstFrameAt === null && s.error === null) s.exited = true;
      report();
    }
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") leaving();
    });
    window.addEventListener("pagehide", leaving);

    return {
      state: s,
      intent: intent,
      // autoplay was refused: the wait for the viewer's click is not startup time
      noIntent: function () { if (s.firstFrameAt === null) s.intentAt = null; },
      engine: function (name) { s.engine = name; },
      rendition: function (id, bitrate) {
        tick();
        if (s.renditionId !== null && String(id) !== s.renditionId) s.switches++;
        s.renditionId = String(id);
        s.bitrate = bitrate > 0 ? bitrate : 0;
      },
      fatal: function (text) {
        if (s.error !== null) return;
        s.error = code(text);
        stop();
        report();
      },
      figures: figures,
      report: report,
    };
  }

  window.ReelstreamQoE = create;
})();
