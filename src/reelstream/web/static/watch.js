/* Watch page: shows processing progress until the video is playable, then plays it with
 * hls.js (global `Hls`; native HLS only where MSE is missing), with a quality selector, or with
 * dash.js when the page is opened with ?player=dash (the same CMAF segments through the MPD).
 *
 * Player features: a caption selector (HLS subtitle renditions / DASH text tracks, shown as
 * the video's text tracks) and a custom seek bar under the picture that shows the storyboard
 * thumbnail (sprite#xywh from the storyboard WebVTT) of the time under the pointer.
 *
 * Views and resume: when playback starts the page sends one view beacon
 * (POST /api/v1/videos/{id}/views with a random player session id), then progress beacons
 * (POST .../progress {position_s, session}) every 10 s while playing, on pause, on seek and
 * when the page is hidden or closed (navigator.sendBeacon, form-encoded with the CSRF token
 * in the body since sendBeacon cannot set headers). A signed-in viewer whose video has a
 * resume_position_s starts there, with a "Resume from 1:23" note and a Start over button.
 *
 * Playing while processing: a new video is playable (API `playable`) seconds after its
 * upload, while `status` is still "processing": its lowest rung grows (an HLS EVENT playlist,
 * a dynamic DASH MPD) ahead of playback. The player starts at the beginning (hls.js
 * `startPosition: 0`; dash.js start time 0 and no live catch-up), keeps reloading the growing
 * manifests until they end, and plays to the end. The page says so ("Playing while
 * processing"): the qualities streamable now (`renditions[].playable`) and those still coming;
 * the poll updates both, and once the video is ready the list shows every rung (the player
 * already playing keeps its qualities; a reload offers them all).
 *
 * State for tests and debugging:
 * window.reelstreamPlayer = {kind, hls, dash, fatalError, video, storyboard, session,
 *   resumedFrom, beacons, growing (playback started while processing)}.
 */
(function () {
  "use strict";

  var POLL_MS = 2000;
  var rs = window.reelstream;
  var root = document.getElementById("watch");
  var videoId = root.getAttribute("data-video-id");
  var videoEl = document.getElementById("player");
  var overlay = document.getElementById("player-overlay");
  var badge = document.getElementById("status-badge");
  var headStatus = document.getElementById("head-status");
  var statusText = document.getElementById("status-text");
  var progress = document.getElementById("processing-progress");
  var progressFill = document.getElementById("processing-progress-fill");
  var jobInfo = document.getElementById("job-info");
  var failure = document.getElementById("failure");
  var quality = document.getElementById("quality");
  var currentLabel = document.getElementById("current-rendition");
  var playerError = document.getElementById("player-error");
  var durationText = document.getElementById("video-duration");
  var renditionList = document.getElementById("rendition-list");
  var progressiveNote = document.getElementById("progressive-note");
  var progressiveText = document.getElementById("progressive-text");

  var captionsSelect = document.getElementById("captions");
  var playerKind = document.getElementById("player-kind");
  var seekbar = document.getElementById("seekbar");
  var seekFill = document.getElementById("seek-fill");
  var seekHover = document.getElementById("seek-hover");
  var seekTime = document.getElementById("seek-time");
  var preview = document.getElementById("storyboard-preview");
  var previewTime = document.getElementById("storyboard-time");

  var resumeNote = document.getElementById("resume-note");
  var resumeText = document.getElementById("resume-text");
  var resumeRestart = document.getElementById("resume-restart");
  var PROGRESS_MS = 10000;
  var RESUME_MIN_S = 3;  // closer than this to either end: start from the beginning

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
  };
  window.reelstreamPlayer = state;

  var STATUS_TEXT = {
    uploading: "Waiting for the upload to finish",
    queued: "Queued for processing",
    processing: "Processing",
    ready: "Ready",
    failed: "Processing failed",
  };

  function setBadge(el, status) {
    el.className = "badge status-" + status;
    el.textContent = status;
  }

  // streamable now: complete, or growing ahead of playback (`playable` is absent from JSON
  // cached by an older server: then only complete renditions are)
  function isPlayable(r, video) {
    return r.ready || (video.playable && r.playable === true);
  }

  /* a rendition's "p" number is its short side (a 720x1280 portrait is 720p, as the ladder names it) */
  function pLabel(r) {
    return Math.min(r.width || r.height, r.height || r.width) + "p";
  }

  function heights(list) {
    return list.map(pLabel).join(", ");
  }

  function renderRenditions(video) {
    var all = (video.renditions || []).slice();
    all.sort(function (a, b) { return b.height - a.height; });
    var now = all.filter(function (r) { return isPlayable(r, video); });
    // the Renditions list is on the page for the owner and admins only
    if (renditionList) fillRenditionList(now);
    renderProgressive(video, now, all.filter(function (r) { return !isPlayable(r, video); }));
  }

  function fillRenditionList(now) {
    renditionList.textContent = "";
    if (!now.length) {
      var li = document.createElement("li");
      li.className = "muted";
      li.textContent = "None yet";
      renditionList.appendChild(li);
    }
    now.forEach(function (r) {
      var item = document.createElement("li");
      item.textContent = pLabel(r) + " · " + rs.formatBitrate(r.bandwidth);
      if (!r.ready) {
        item.setAttribute("data-state", "growing");
        item.textContent += " · still encoding";
      }
      renditionList.appendChild(item);
    });
  }

  /* "Playing while processing": which qualities exist now and which are coming. */
  function renderProgressive(video, now, coming) {
    var text = "";
    if (video.status === "processing" && video.playable) {
      text = heights(now) + " now";
      text += coming.length ? "; coming: " + heights(coming) + "." : "; the rest is being finished.";
    } else if (video.status === "ready" && state.growing) {
      text = "Processing finished: every quality is ready (" + heights(now) +
        "). Reload the page to choose among them.";
    }
    progressiveNote.setAttribute("data-status", video.status);
    progressiveText.textContent = text;
    progressiveNote.hidden = !text;
  }

  function renderStatus(video) {
    state.video = video;
    root.setAttribute("data-status", video.status);
    setBadge(badge, video.status);
    setBadge(headStatus, video.status);
    headStatus.hidden = video.status === "ready";
    durationText.textContent = rs.formatDuration(video.duration_s);
    renderRenditions(video);

    var text = STATUS_TEXT[video.status] || video.status;
    var pct = Math.max(0, Math.min(1, video.progress || 0)) * 100;
    if (video.status === "processing") text += " · " + Math.floor(pct) + "%";
    statusText.textContent = text;
    progressFill.style.width = pct.toFixed(1) + "%";
    progress.setAttribute("aria-valuenow", String(Math.floor(pct)));

    var job = video.job;
    var info = "";
    // a failed video's attempts are over: "attempt 1 of 3" would promise retries that will
    // not come (the timeline says whether retrying can help)
    if (job && video.status !== "ready" && video.status !== "failed") {
      // only once a retry happens: a first attempt promises nothing about later ones
      if (job.attempts > 1) info = "Attempt " + job.attempts + " of " + job.max_attempts;
      if (job.last_error && video.status !== "failed") {
        info += (info ? " · " : "") + "retrying after: " + job.last_error;
      }
    }
    jobInfo.textContent = info;

    if (video.status === "failed") {
      progress.hidden = true;
      failure.textContent = video.error || (job && job.last_error) ||
        "Processing failed for an unknown reason.";
      failure.hidden = false;
    } else {
      progress.hidden = false;
      failure.hidden = true;
    }
  }

  function showPlayerError(message) {
    playerError.textContent = message;
    playerError.hidden = false;
  }

  function levelText(level) {
    if (!level) return "—";
    return (level.height ? level.height + "p" : "audio") + " · " + rs.formatBitrate(level.bitrate);
  }

  function fillQualities(hls) {
    quality.textContent = "";
    var auto = document.createElement("option");
    auto.value = "-1";
    auto.textContent = "Auto";
    quality.appendChild(auto);
    var order = hls.levels.map(function (level, index) { return { level: level, index: index }; });
    order.sort(function (a, b) { return b.level.height - a.level.height || b.level.bitrate - a.level.bitrate; });
    order.forEach(function (entry) {
      var opt = document.createElement("option");
      opt.value = String(entry.index);
      opt.textContent = entry.level.height ? entry.level.height + "p" : levelText(entry.level);
      quality.appendChild(opt);
    });
    quality.value = "-1";
    quality.disabled = false;
  }

  /* -- captions ---------------------------------------------------------------------- */

  function fillCaptions(tracks, current) {
    // tracks: [{index, lang, label}]
    captionsSelect.textContent = "";
    var off = document.createElement("option");
    off.value = "off";
    off.textContent = "Off";
    captionsSelect.appendChild(off);
    tracks.forEach(function (t) {
      var opt = document.createElement("option");
      opt.value = String(t.index);
      opt.textContent = t.label || t.lang;
      opt.setAttribute("data-lang", t.lang || "");
      captionsSelect.appendChild(opt);
    });
    captionsSelect.value = current >= 0 ? String(current) : "off";
    captionsSelect.disabled = tracks.length === 0;
  }

  function onCaptionChoice(choose) {
    captionsSelect.addEventListener("change", function () {
      var v = captionsSelect.value;
      choose(v === "off" ? -1 : parseInt(v, 10));
    });
  }

  /* -- storyboard previews -------------------------------------------------------------- */

  function parseTimestamp(text) {
    var m = /^(?:(\d+):)?(\d{2}):(\d{2})\.(\d{3})$/.exec(text.trim());
    if (!m) return NaN;
    return (parseInt(m[1] || "0", 10) * 3600) + parseInt(m[2], 10) * 60 +
      parseInt(m[3], 10) + parseInt(m[4], 10) / 1000;
  }

  /* Cues of a storyboard WebVTT: [{start, end, url, x, y, w, h}]; urls are absolute. */
  function parseStoryboard(text, baseUrl) {
    var cues = [];
    text.replace(/\r\n?/g, "\n").split(/\n\n+/).forEach(function (block) {
      var lines = block.split("\n").filter(function (l) { return l.trim() !== ""; });
      var at = lines.findIndex(function (l) { return l.indexOf("-->") >= 0; });
      if (at < 0 || at + 1 >= lines.length) return;
      var times = lines[at].split("-->");
      var ref = lines[at + 1].trim();
      var hash = ref.indexOf("#xywh=");
      if (hash < 0) return;
      var xywh = ref.slice(hash + 6).split(",").map(function (n) { return parseInt(n, 10); });
      if (xywh.length !== 4 || xywh.some(isNaN)) return;
      cues.push({
        start: parseTimestamp(times[0]),
        end: parseTimestamp(times[1].trim().split(/\s+/)[0]),
        url: new URL(ref.slice(0, hash), baseUrl).href,
        x: xywh[0], y: xywh[1], w: xywh[2], h: xywh[3],
      });
    });
    return cues.filter(function (c) { return !isNaN(c.start) && !isNaN(c.end); });
  }

  function cueAt(cues, t) {
    for (var i = 0; i < cues.length; i++) {
      if (t >= cues[i].start && t < cues[i].end) return cues[i];
    }
    return cues.length && t >= cues[cues.length - 1].end ? cues[cues.length - 1] : null;
  }

  function loadStoryboard(url) {
    fetch(url).then(function (res) {
      if (!res.ok) throw new Error("HTTP " + res.status);
      return res.text();
    }).then(function (text) {
      state.storyboard = parseStoryboard(text, url);
    }).catch(function (err) {
      state.storyboard = [];
      window.console.warn("storyboard unavailable: " + err.message);
    });
  }

  function duration() {
    // while the manifests grow, the player's duration is what is listed so far
    if (state.growing && state.video && state.video.duration_s) return state.video.duration_s;
    if (isFinite(videoEl.duration) && videoEl.duration > 0) return videoEl.duration;
    return state.video && state.video.duration_s ? state.video.duration_s : 0;
  }

  function timeAtPointer(event) {
    var rect = seekbar.getBoundingClientRect();
    var x = Math.max(0, Math.min(rect.width, event.clientX - rect.left));
    return { x: x, t: rect.width > 0 ? (x / rect.width) * duration() : 0 };
  }

  function showPreview(event) {
    var total = duration();
    if (!total) return;
    var pos = timeAtPointer(event);
    var rect = seekbar.getBoundingClientRect();
    seekHover.style.left = pos.x + "px";
    seekHover.hidden = false;
    var cue = state.storyboard ? cueAt(state.storyboard, pos.t) : null;
    var label = rs.formatDuration(pos.t);
    if (cue) {
      var half = cue.w / 2;
      preview.style.left = Math.max(half, Math.min(rect.width - half, pos.x)) + "px";
      preview.style.width = cue.w + "px";
      preview.style.height = cue.h + "px";
      preview.style.backgroundImage = "url(\"" + cue.url + "\")";
      preview.style.backgroundPosition = (-cue.x) + "px " + (-cue.y) + "px";
      preview.setAttribute("data-start", String(cue.start));
      previewTime.textContent = label;
      preview.hidden = false;
      seekTime.hidden = true;
    } else {
      seekTime.style.left = pos.x + "px";
      seekTime.textContent = label;
      seekTime.hidden = false;
      preview.hidden = true;
    }
  }

  function hidePreview() {
    preview.hidden = true;
    seekTime.hidden = true;
    seekHover.hidden = true;
  }

  function setupSeekbar() {
    var dragging = false;
    seekbar.hidden = false;
    seekbar.addEventListener("pointermove", function (e) {
      showPreview(e);
      if (dragging) videoEl.currentTime = timeAtPointer(e).t;
    });
    seekbar.addEventListener("pointerleave", function () { if (!dragging) hidePreview(); });
    seekbar.addEventListener("pointerdown", function (e) {
      dragging = true;
      if (seekbar.setPointerCapture) seekbar.setPointerCapture(e.pointerId);
      showPreview(e);
      videoEl.currentTime = timeAtPointer(e).t;
    });
    seekbar.addEventListener("pointerup", function () { dragging = false; hidePreview(); });
    seekbar.addEventListener("pointercancel", function () { dragging = false; hidePreview(); });
    seekbar.addEventListener("keydown", function (e) {
      if (e.key === "ArrowRight") videoEl.currentTime = Math.min(duration(), videoEl.currentTime + 5);
      else if (e.key === "ArrowLeft") videoEl.currentTime = Math.max(0, videoEl.currentTime - 5);
    });
    videoEl.addEventListener("timeupdate", function () {
      var total = duration();
      var pct = total ? Math.min(100, (videoEl.currentTime / total) * 100) : 0;
      seekFill.style.width = pct.toFixed(2) + "%";
      seekbar.setAttribute("aria-valuenow", String(Math.floor(videoEl.currentTime)));
      seekbar.setAttribute("aria-valuemax", String(Math.floor(total)));
    });
  }

  /* -- players ---------------------------------------------------------------------------- */

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

  function playWithHls(url) {
    var hls = new Hls({
      // from the beginning, also while the playlists grow (EVENT playlists are "live" to
      // hls.js, which would otherwise start near their end); it reloads them until ENDLIST
      startPosition: 0,
      capLevelToPlayerSize: false,
      manifestLoadPolicy: playlistPolicy(),
      playlistLoadPolicy: playlistPolicy()
    });
    state.hls = hls;
    var mediaRecoveries = 0;

    function captionTracks() {
      return hls.subtitleTracks.map(function (t, i) {
        return { index: i, lang: t.lang || "", label: t.name || t.lang || "" };
      });
    }
    hls.on(Hls.Events.SUBTITLE_TRACKS_UPDATED, function () {
      fillCaptions(captionTracks(), hls.subtitleTrack);
    });
    onCaptionChoice(function (index) {
      hls.subtitleDisplay = index >= 0;
      hls.subtitleTrack = index;
    });

    hls.on(Hls.Events.MANIFEST_PARSED, function () {
      fillQualities(hls);
      var p = videoEl.play();
      if (p && p.catch) p.catch(function () { /* autoplay refused: the user presses play */ });
    });
    var playing = -1;  // index of the rendition being played
    function updateLabel() {
      var text = levelText(hls.levels[playing]);
      currentLabel.textContent = hls.autoLevelEnabled ? "Auto · " + text : text;
    }
    hls.on(Hls.Events.LEVEL_SWITCHED, function (event, data) {
      playing = data.level;
      updateLabel();
    });
    hls.on(Hls.Events.ERROR, function (event, data) {
      if (!data.fatal) return;
      if (data.type === Hls.ErrorTypes.MEDIA_ERROR && mediaRecoveries < 1) {
        mediaRecoveries++;
        hls.recoverMediaError();
        return;
      }
      state.fatalError = data.type + ": " + data.details;
      showPlayerError("Playback failed (" + data.details + ").");
      hls.destroy();
    });

    quality.addEventListener("change", function () {
      var wanted = parseInt(quality.value, 10);
      hls.currentLevel = wanted;
      // Choosing the rendition already playing fires no LEVEL_SWITCHED: relabel now.
      if (wanted === -1 || wanted === playing) updateLabel();
    });

    hls.loadSource(url);
    hls.attachMedia(videoEl);
  }

  function playNative(url) {
    videoEl.src = url;
    quality.disabled = true;
    currentLabel.textContent = "Auto";
    videoEl.addEventListener("error", function () {
      state.fatalError = "native: media error " + (videoEl.error ? videoEl.error.code : "?");
      showPlayerError("Playback failed.");
    });
    var p = videoEl.play();
    if (p && p.catch) p.catch(function () { /* autoplay refused */ });
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

  function representationText(rep) {
    if (!rep) return "—";
    return (rep.height ? rep.height + "p" : "audio") + " · " + rs.formatBitrate(rep.bandwidth);
  }

  function playWithDash(url) {
    var player = dashjs.MediaPlayer().create();
    state.dash = player;
    var events = dashjs.MediaPlayer.events;
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
      },
    });
    var auto = true;
    var playingId = null;

    function updateLabel() {
      var reps = player.getRepresentationsByType("video") || [];
      var rep = reps.filter(function (r) { return r.id === playingId; })[0];
      var text = representationText(rep);
      currentLabel.textContent = auto ? "Auto · " + text : text;
    }

    player.on(events.STREAM_INITIALIZED, function () {
      var reps = (player.getRepresentationsByType("video") || []).slice();
      quality.textContent = "";
      var opt = document.createElement("option");
      opt.value = "-1";
      opt.textContent = "Auto";
      quality.appendChild(opt);
      reps.sort(function (a, b) { return b.height - a.height || b.bandwidth - a.bandwidth; });
      reps.forEach(function (r) {
        var o = document.createElement("option");
        o.value = r.id;
        o.textContent = r.height + "p";
        quality.appendChild(o);
      });
      quality.value = "-1";
      quality.disabled = false;
    });
    player.on(events.QUALITY_CHANGE_RENDERED, function (e) {
      if (e.mediaType !== "video") return;
      var rep = e.newRepresentation;
      playingId = rep ? rep.id : null;
      updateLabel();
    });
    player.on(events.TEXT_TRACKS_ADDED, function (e) {
      var tracks = (e.tracks || []).map(function (t, i) {
        var label = t.labels && t.labels.length ? t.labels[0].text : "";
        return { index: i, lang: t.lang || "", label: label || t.lang || "" };
      });
      fillCaptions(tracks, -1);
    });
    onCaptionChoice(function (index) {
      player.enableText(index >= 0);
      if (index >= 0) player.setTextTrack(index);
    });
    player.on(events.ERROR, function (e) {
      var err = e.error || {};
      state.fatalError = "dash: " + (err.code || "?") + " " + (err.message || "");
      showPlayerError("Playback failed (" + (err.message || err.code || "error") + ").");
    });
    player.on(events.PLAYBACK_ERROR, function (e) {
      state.fatalError = "dash playback: " + (e.error ? e.error.message || e.error : "?");
      showPlayerError("Playback failed.");
    });
    quality.addEventListener("change", function () {
      var wanted = quality.value;
      auto = wanted === "-1";
      player.updateSettings({
        streaming: { abr: { autoSwitchBitrate: { video: auto } } },
      });
      if (!auto) player.setRepresentationForTypeById("video", wanted, true);
      updateLabel();
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

  /* -- views and resume ------------------------------------------------------------------ */

  function beacon(path, fields) {
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

  var lastSent = -1;
  function sendProgress() {
    if (!state.viewSent) return;
    var t = videoEl.currentTime;
    if (!isFinite(t) || Math.abs(t - lastSent) < 0.5) return;
    lastSent = t;
    var total = duration();
    // finished (or nearly): the next visit starts from the beginning
    var at = total && t >= total - RESUME_MIN_S ? 0 : t;
    beacon("progress", { position_s: at.toFixed(2) });
  }

  function setupBeacons() {
    videoEl.addEventListener("playing", function () {
      if (state.viewSent) return;
      state.viewSent = true;
      beacon("views", {});
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

  function setupResume(video) {
    var at = video.resume_position_s;
    var total = video.duration_s || 0;
    if (at === null || at === undefined || at < RESUME_MIN_S) return;
    if (total && at > total - RESUME_MIN_S) return;
    var applied = false;
    function apply() {
      if (applied) return;
      applied = true;
      videoEl.currentTime = at;
      state.resumedFrom = at;
      resumeText.textContent = "Resumed from " + rs.formatDuration(at) + ".";
      resumeNote.hidden = false;
    }
    if (videoEl.readyState >= 1) apply();
    else videoEl.addEventListener("loadedmetadata", apply);
    resumeRestart.addEventListener("click", function () {
      videoEl.currentTime = 0;
      resumeNote.hidden = true;
      var p = videoEl.play();
      if (p && p.catch) p.catch(function () { /* the user presses play */ });
    });
  }

  function startPlayback() {
    if (state.started) return;
    state.started = true;
    state.growing = !!state.video && state.video.status === "processing";
    overlay.hidden = true;
    rs.getJSON("/api/v1/videos/" + encodeURIComponent(videoId) + "/playback").then(function (pb) {
      setupSeekbar();
      setupBeacons();
      if (state.video) setupResume(state.video);
      if (state.video && state.video.storyboard_url) loadStoryboard(state.video.storyboard_url);
      playerKind.textContent = kind === "dash" ? "DASH (dash.js)" : "HLS";
      if (kind === "dash") {
        if (!pb.dash_url) {
          state.fatalError = "unsupported: this video has no DASH manifest";
          showPlayerError("This video has no DASH manifest.");
          return;
        }
        loadScript("/static/vendor/dash.all.min.js").then(function () {
          playWithDash(pb.dash_url);
        }, function (err) {
          state.fatalError = "dash: " + err.message;
          showPlayerError("Cannot load the DASH player.");
        });
        return;
      }
      if (window.Hls && Hls.isSupported()) {
        playWithHls(pb.hls_url);
      } else if (videoEl.canPlayType("application/vnd.apple.mpegurl")) {
        playNative(pb.hls_url);
      } else {
        state.fatalError = "unsupported: this browser cannot play HLS";
        showPlayerError("This browser cannot play HLS video.");
      }
    }, function (err) {
      state.started = false;
      state.fatalError = "playback: " + err.message;
      showPlayerError("Cannot start playback: " + err.message);
    });
  }

  function poll() {
    rs.getJSON("/api/v1/videos/" + encodeURIComponent(videoId)).then(function (video) {
      renderStatus(video);
      if (video.playable) {
        startPlayback();
      }
      if (video.status !== "ready" && video.status !== "failed") {
        window.setTimeout(poll, POLL_MS);
      }
    }, function (err) {
      statusText.textContent = "Cannot reach the server (" + err.message + "); retrying…";
      if (err.status !== 404) window.setTimeout(poll, POLL_MS * 2);
    });
  }

  poll();
  // the timeline: when work it watched finishes (or a retry starts), reload the video's state
  window.reelstreamTimeline.start(videoId, function () {
    rs.getJSON("/api/v1/videos/" + encodeURIComponent(videoId)).then(function (video) {
      renderStatus(video);
      if (video.status !== "ready" && video.status !== "failed") window.setTimeout(poll, POLL_MS);
      else if (video.playable) startPlayback();
    }, function () { /* the next poll tells */ });
  });
})();
