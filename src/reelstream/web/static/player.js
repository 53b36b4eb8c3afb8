/* The player shared by the watch page and the embed page (/embed/{id}): media-chrome's
 * controls (templates/_player.html) over a plain <video id="player">, driven by hls.js (global
 * `Hls`; native HLS only where MSE is missing) or, with ?player=dash, by dash.js (the same
 * CMAF segments through the MPD).
 *
 * Why media-chrome: it is engine-agnostic. It reads and drives the <video> element's own API
 * (paused, currentTime, textTracks, videoRenditions), so the hls.js and dash.js code below
 * (growing EVENT playlists, dynamic MPDs, retries, start level, beacons) keeps driving the
 * element as before. Vidstack's build loads helpers from a CDN (our CSP allows scripts from
 * this origin only) and Shaka's UI would replace both engines.
 *
 * What the page gets from here:
 * - the quality menu (<media-rendition-menu>) reads `video.videoRenditions` (media-tracks'
 *   polyfill, loaded as a module before media-chrome): one rendition per hls.js level / dash.js
 *   representation, `id` = level index / representation id. A pick selects that rendition,
 *   "Auto" selects none; the change event sets the engine's level (or ABR back on);
 * - captions: HLS subtitle renditions / DASH text tracks are the video's textTracks, which the
 *   captions menu lists and turns on ("showing"); hls.js follows the mode itself, dash.js is
 *   told here;
 * - storyboard thumbnails on the seek bar: a <track kind="metadata" label="thumbnails"> with the
 *   signed storyboard WebVTT (sprite#xywh cues), which <media-time-range> previews;
 * - a start level that is not always the lowest: the bandwidth this browser last measured
 *   (localStorage), else navigator.connection.downlink, else 2.5 Mbit/s seeds the estimator
 *   (hls.js abrEwmaDefaultEstimate with no bandwidth test; dash.js abr.initialBitrate) and the
 *   level is capped to the player's size (capLevelToPlayerSize / limitBitrateByPortal);
 * - one view beacon when playback starts, progress beacons every 10 s while playing, on pause,
 *   seek and when the page is hidden (navigator.sendBeacon, form-encoded with the CSRF token);
 * - QoE reports (static/qoe.js: startup, rebuffering, bitrate, errors) on the same path, fed
 *   the engine's rendition changes and fatal errors from here;
 * - CMCD (CTA-5004) on every media request, in query mode (?CMCD=..., no extra headers, so no
 *   CORS preflight): the session id (sid), the video id (cid), and the engines' own keys
 *   (bitrate br, buffer length bl, object type ot, throughput mtp ...), for the edge's logs.
 *
 * State for tests and debugging: window.reelstreamPlayer = {kind, hls, dash, fatalError,
 *   video, storyboard, session, resumedFrom, beacons, growing, renditions, startEstimate, qoe}
 *   (qoe.state: the QoE tracker's counters).
 * API: window.ReelstreamPlayer.start(videoId) (after `state.video` holds the API JSON).
 */
(function () {
  "use strict";

  var rs = window.reelstream;
  var videoEl = document.getElementById("player");
  var currentLabel = document.getElementById("current-rendition");
  var playerError = document.getElementById("player-error");
  var playerKind = document.getElementById("player-kind");
  var PROGRESS_MS = 10000;
  var RESUME_MIN_S = 3;  // this close to the end: the next visit starts from the beginning
  var BANDWIDTH_KEY = "reelstream.bandwidth";
  var DEFAULT_BPS = 2500000;

  function newSessionId() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) {
      return (b < 16 ? "0" : "") + b.toString(16);
    }).join("");
  }

  var params = new URLSearchParams(window.location.search);
  var kind = params.get("player") === "dash" ? "dash" : "hls";
  var state = {
    kind: kind, hls: null, dash: null, fatalError: null, video: null, started: false,
    storyboard: null, session: newSessionId(), resumedFrom: null, beacons: 0, growing: false,
    renditions: [], startEstimate: null, qoe: null,
  };
  window.reelstreamPlayer = state;

  // QoE (static/qoe.js, loaded before this module); a stand-in if it did not load
  function qoe() {
    return state.qoe || { intent: function () {}, noIntent: function () {}, engine: function () {},
      rendition: function () {}, fatal: function () {} };
  }

  function showPlayerError(message) {
    if (!playerError) return;
    playerError.textContent = message;
    playerError.hidden = false;
  }

  function setLabel(text) {
    if (currentLabel) currentLabel.textContent = text;
  }

  /* -- start level ------------------------------------------------------------------------ */

  function startEstimate() {
    var stored = NaN;
    try { stored = parseFloat(window.localStorage.getItem(BANDWIDTH_KEY)); } catch (e) { /* off */ }
    if (stored > 0) return { bps: stored, from: "stored" };
    var c = navigator.connection;
    if (c && c.downlink > 0) return { bps: c.downlink * 1e6, from: "connection" };
    return { bps: DEFAULT_BPS, from: "default" };
  }

  function saveEstimate(bps) {
    if (!(bps > 0) || !isFinite(bps)) return;
    try { window.localStorage.setItem(BANDWIDTH_KEY, String(Math.round(bps))); } catch (e) { /* off */ }
  }

  /* -- renditions (the quality menu) ------------------------------------------------------ */

  // items: [{id, width, height, bitrate}]; onPick(id or null for Auto)
  function publishRenditions(items, onPick) {
    state.renditions = items.map(function (r) { return { id: r.id, height: r.height, bitrate: r.bitrate }; });
    if (!videoEl.addVideoTrack) return;  // the media-tracks polyfill did not load
    var track = videoEl.addVideoTrack("main");
    track.selected = true;
    var byRendition = [];
    items.forEach(function (r) {
      var rendition = track.addRendition("", r.width, r.height, "", r.bitrate);
      rendition.id = String(r.id);
      byRendition.push(rendition);
    });
    var picked = null;
    videoEl.videoRenditions.addEventListener("change", function () {
      var index = videoEl.videoRenditions.selectedIndex;
      var id = index >= 0 ? videoEl.videoRenditions[index].id : null;
      if (id === picked) return;
      picked = id;
      onPick(id);
    });
  }

  /* -- engines ----------------------------------------------------------------------------- */

  // A playlist load that fails is retried 4 times, 1 s apart doubling up to 8 s (hls.js's own
  // default is once for the master, twice for a media playlist): an origin or object store
  // that is down for a few seconds (a 503 with Retry-After) must not end a viewer's session.
  // Segments keep hls.js's default (6 retries). benchmarks/load/viewers.py plays by the same rules.
  var PLAYLIST_RETRY = {
    maxNumRetry: 4, retryDelayMs: 1000, maxRetryDelayMs: 8000, backoff: "exponential"
  };
  function playlistPolicy() {
    return {
      default: {
        maxTimeToFirstByteMs: 10000, maxLoadTimeMs: 20000,
        timeoutRetry: { maxNumRetry: 2, retryDelayMs: 0, maxRetryDelayMs: 0 },
        errorRetry: PLAYLIST_RETRY
      }
    };
  }

  // "720p" names the short side, as the quality menu and the pages do (a portrait 720x1280
  // rendition is 720p, not 1280p)
  function levelText(width, height, bitrate) {
    var side = width && height ? Math.min(width, height) : height;
    return (side ? side + "p" : "audio") + " · " + rs.formatBitrate(bitrate);
  }

  function playWithHls(url, videoId) {
    var estimate = startEstimate();
    state.startEstimate = estimate;
    var hls = new Hls({
      // from the beginning, also while the playlists grow (EVENT playlists are "live" to
      // hls.js, which would otherwise start near their end); it reloads them until ENDLIST
      startPosition: 0,
      // start at the level the estimate affords (no test download at the lowest level),
      // never above what the player's size shows
      startLevel: -1,
      testBandwidth: false,
      abrEwmaDefaultEstimate: estimate.bps,
      abrEwmaDefaultEstimateMax: Math.max(estimate.bps, 5e6),
      capLevelToPlayerSize: true,
      manifestLoadPolicy: playlistPolicy(),
      playlistLoadPolicy: playlistPolicy(),
      cmcd: { sessionId: state.session, contentId: videoId, useHeaders: false }
    });
    qoe().engine("hls");
    state.hls = hls;
    var mediaRecoveries = 0;
    var playing = -1;  // index of the level being played

    function updateLabel() {
      var level = hls.levels[playing];
      var text = level ? levelText(level.width, level.height, level.bitrate) : "—";
      setLabel(hls.autoLevelEnabled ? "Auto · " + text : text);
    }
    hls.on(Hls.Events.MANIFEST_PARSED, function () {
      publishRenditions(hls.levels.map(function (level, index) {
        return { id: index, width: level.width, height: level.height, bitrate: level.bitrate };
      }), function (id) {
        var wanted = id === null ? -1 : parseInt(id, 10);
        hls.currentLevel = wanted;
        // the level already playing fires no LEVEL_SWITCHED: relabel now
        updateLabel();
      });
      var p = videoEl.play();
      if (p && p.catch) p.catch(function () { qoe().noIntent(); /* the user presses play */ });
    });
    hls.on(Hls.Events.LEVEL_SWITCHED, function (event, data) {
      playing = data.level;
      var level = hls.levels[playing];
      qoe().rendition(playing, level ? level.bitrate : 0);
      updateLabel();
    });
    var savedAt = 0;
    hls.on(Hls.Events.FRAG_LOADED, function () {
      var now = Date.now();
      if (now - savedAt < 2000) return;
      savedAt = now;
      saveEstimate(hls.bandwidthEstimate);
    });
    window.addEventListener("pagehide", function () { saveEstimate(hls.bandwidthEstimate); });
    hls.on(Hls.Events.ERROR, function (event, data) {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries < 1) {
        mediaRecoveries++;
        hls.recoverMediaError();
        return;
      }
      state.fatalError = data.type + ": " + data.details;
      qoe().fatal("hls:" + data.type + ":" + data.details);
      showPlayerError("Playback failed (" + data.details + ").");
      hls.destroy();
    });
    hls.loadSource(url);
    hls.attachMedia(videoEl);
  }

  function playNative(url) {
    videoEl.src = url;
    setLabel("Auto");
    qoe().engine("native");
    videoEl.addEventListener("error", function () {
      state.fatalError = "native: media error " + (videoEl.error ? videoEl.error.code : "?");
      qoe().fatal("native:" + (videoEl.error ? videoEl.error.code : "unknown"));
      showPlayerError("Playback failed.");
    });
    var p = videoEl.play();
    if (p && p.catch) p.catch(function () { qoe().noIntent(); /* autoplay refused */ });
  }

  function loadScript(src) {
    return new Promise(function (resolve, reject) {
      var el = document.createElement("script");
      el.src = src;
      el.onload = resolve;
      el.onerror = function () { reject(new Error("cannot load " + src)); };
      document.head.appendChild(el);
    });
  }

  function playWithDash(url, videoId) {
    var player = dashjs.MediaPlayer().create();
    state.dash = player;
    var events = dashjs.MediaPlayer.events;
    var estimate = startEstimate();
    state.startEstimate = estimate;
    // A growing video's MPD is dynamic: start at the beginning (the start time below, inside
    // its time-shift window), never chase the live edge, take the window from the
    // SegmentTimeline (what is listed), and trust the local clock (every listed segment is
    // available a whole video length early, so clock skew cannot delay one).
    player.updateSettings({
      streaming: {
        text: { defaultEnabled: false },
        liveCatchup: { enabled: false },
        timeShiftBuffer: { calcFromSegmentTimeline: true },
        utcSynchronization: { enabled: false },
        abr: {
          initialBitrate: { video: Math.round(estimate.bps / 1000) },  // kbit/s
          limitBitrateByPortal: true,
        },
        cmcd: { enabled: true, sid: state.session, cid: videoId, mode: "query" },
      },
    });
    qoe().engine("dash");
    if (events.PLAYBACK_NOT_ALLOWED) {
      player.on(events.PLAYBACK_NOT_ALLOWED, function () { qoe().noIntent(); });
    }
    var auto = true;
    var playingRep = null;

    function updateLabel() {
      var text = playingRep ? levelText(playingRep.width, playingRep.height, playingRep.bandwidth) : "—";
      setLabel(auto ? "Auto · " + text : text);
    }
    player.on(events.STREAM_INITIALIZED, function () {
      var reps = player.getRepresentationsByType("video") || [];
      publishRenditions(reps.map(function (r) {
        return { id: r.id, width: r.width, height: r.height, bitrate: r.bandwidth };
      }), function (id) {
        auto = id === null;
        player.updateSettings({ streaming: { abr: { autoSwitchBitrate: { video: auto } } } });
        if (!auto) player.setRepresentationForTypeById("video", id, true);
        updateLabel();
      });
    });
    player.on(events.QUALITY_CHANGE_RENDERED, function (e) {
      if (e.mediaType !== "video") return;
      playingRep = e.newRepresentation || null;
      if (playingRep) qoe().rendition(playingRep.id, playingRep.bandwidth);
      updateLabel();
    });
    // the captions menu sets a text track's mode; dash.js must fetch that track's segments
    videoEl.textTracks.addEventListener("change", function () {
      var tracks = Array.prototype.filter.call(videoEl.textTracks, function (t) {
        return t.kind === "subtitles" || t.kind === "captions";
      });
      var showing = tracks.findIndex(function (t) { return t.mode === "showing"; });
      if (showing === state.dashText) return;
      state.dashText = showing;
      player.enableText(showing >= 0);
      if (showing >= 0) player.setTextTrack(showing);
    });
    window.addEventListener("pagehide", function () {
      var kbps = player.getAverageThroughput ? player.getAverageThroughput("video") : 0;
      saveEstimate(kbps * 1000);
    });
    player.on(events.ERROR, function (e) {
      var err = e.error || {};
      state.fatalError = "dash: " + (err.code || "?") + " " + (err.message || "");
      qoe().fatal("dash:" + (err.code || "error"));
      showPlayerError("Playback failed (" + (err.message || err.code || "error") + ").");
    });
    player.on(events.PLAYBACK_ERROR, function (e) {
      state.fatalError = "dash playback: " + (e.error ? e.error.message || e.error : "?");
      qoe().fatal("dash:playback");
      showPlayerError("Playback failed.");
    });
    // dash.js 5.2, after a growing MPD turned static, now and then judges the stream over half
    // a second before its end and pauses there (its PLAYBACK_ENDED, no `ended` from the
    // element). The rest is buffered: play it, and the element ends where the media does.
    player.on(events.PLAYBACK_ENDED, function () {
      if (videoEl.ended || videoEl.duration - videoEl.currentTime > 1) return;
      state.endNudges = (state.endNudges || 0) + 1;
      window.setTimeout(function () {
        var p = videoEl.play();
        if (p && p.catch) p.catch(function () { /* nothing more to play */ });
      }, 0);
    });
    player.initialize(videoEl, url, true, 0);
  }

  /* -- storyboard ------------------------------------------------------------------------ */

  function addStoryboard(url) {
    var el = document.createElement("track");
    el.kind = "metadata";
    el.label = "thumbnails";
    el.src = url;
    el.addEventListener("load", function () {
      state.storyboard = Array.prototype.map.call(el.track.cues || [], function (c) {
        return { start: c.startTime, end: c.endTime, ref: c.text };
      });
    });
    el.addEventListener("error", function () {
      state.storyboard = [];
      window.console.warn("storyboard unavailable");
    });
    videoEl.appendChild(el);
    el.track.mode = "hidden";  // loads the cues without showing them
  }

  /* -- views ------------------------------------------------------------------------------ */

  function duration() {
    // while the manifests grow, the player's duration is what is listed so far
    if (state.growing && state.video && state.video.duration_s) return state.video.duration_s;
    if (isFinite(videoEl.duration) && videoEl.duration > 0) return videoEl.duration;
    return state.video && state.video.duration_s ? state.video.duration_s : 0;
  }

  function beacon(videoId, path, fields) {
    var body = new URLSearchParams(fields);
    body.set("session", state.session);
    var csrf = rs.csrfHeaders()["X-CSRF-Token"];
    if (csrf) body.set("csrf_token", csrf);
    var url = "/api/v1/videos/" + encodeURIComponent(videoId) + "/" + path;
    state.beacons++;
    if (navigator.sendBeacon && navigator.sendBeacon(url, body)) return;
    fetch(url, { method: "POST", body: body, keepalive: true, credentials: "same-origin" })
      .catch(function () { /* best effort */ });
  }

  function setupBeacons(videoId) {
    var lastSent = -1;
    function sendProgress() {
      if (!state.viewSent) return;
      var t = videoEl.currentTime;
      if (!isFinite(t) || Math.abs(t - lastSent) < 0.5) return;
      lastSent = t;
      var total = duration();
      // finished (or nearly): the next visit starts from the beginning
      var at = total && t >= total - RESUME_MIN_S ? 0 : t;
      beacon(videoId, "progress", { position_s: at.toFixed(2) });
    }
    videoEl.addEventListener("playing", function () {
      if (state.viewSent) return;
      state.viewSent = true;
      beacon(videoId, "views", {});
    });
    window.setInterval(function () { if (!videoEl.paused) sendProgress(); }, PROGRESS_MS);
    videoEl.addEventListener("pause", sendProgress);
    videoEl.addEventListener("seeked", sendProgress);
    videoEl.addEventListener("ended", sendProgress);
    document.addEventListener("visibilitychange", function () {
      if (document.visibilityState === "hidden") sendProgress();
    });
    window.addEventListener("pagehide", sendProgress);
  }

  /* -- start ------------------------------------------------------------------------------- */

  function start(videoId) {
    if (state.started) return Promise.resolve(false);
    state.started = true;
    state.growing = !!state.video && state.video.status === "processing";
    if (window.ReelstreamQoE && !state.qoe) {  // once: a failed start may be tried again
      state.qoe = window.ReelstreamQoE(videoEl, function (fields) { beacon(videoId, "qoe", fields); });
    }
    qoe().intent();  // the page asks to play (autoplay); a refusal resets it
    var path = "/api/v1/videos/" + encodeURIComponent(videoId) + "/playback";
    return rs.getJSON(path).then(function (pb) {
      setupBeacons(videoId);
      if (state.video && state.video.storyboard_url) addStoryboard(state.video.storyboard_url);
      if (playerKind) playerKind.textContent = kind === "dash" ? "DASH (dash.js)" : "HLS";
      if (kind === "dash") {
        if (!pb.dash_url) {
          state.fatalError = "unsupported: this video has no DASH manifest";
          qoe().fatal("unsupported:no_dash");
          showPlayerError("This video has no DASH manifest.");
          return true;
        }
        loadScript("/static/vendor/dash.all.min.js").then(function () {
          playWithDash(pb.dash_url, videoId);
        }, function (err) {
          state.fatalError = "dash: " + err.message;
          qoe().fatal("dash:script_load");
          showPlayerError("Cannot load the DASH player.");
        });
        return true;
      }
      if (window.Hls && Hls.isSupported()) {
        playWithHls(pb.hls_url, videoId);
      } else if (videoEl.canPlayType("application/vnd.apple.mpegurl")) {
        playNative(pb.hls_url);
      } else {
        state.fatalError = "unsupported: this browser cannot play HLS";
        qoe().fatal("unsupported:no_hls");
        showPlayerError("This browser cannot play HLS video.");
      }
      return true;
    }, function (err) {
      state.started = false;
      state.fatalError = "playback: " + err.message;
      qoe().fatal("playback:api");
      showPlayerError("Cannot start playback: " + err.message);
      return false;
    });
  }

  window.ReelstreamPlayer = { start: start, duration: duration };
})();
