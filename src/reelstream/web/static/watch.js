/* Watch page: shows processing progress until the video is playable, then plays it with
 * hls.js (global `Hls`; native HLS only where MSE is missing), with a quality selector.
 *
 * State for tests and debugging: window.reelstreamPlayer = {hls, fatalError, video}.
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

  var state = { hls: null, fatalError: null, video: null, started: false };
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

  function renderRenditions(renditions) {
    var ready = (renditions || []).filter(function (r) { return r.ready; });
    ready.sort(function (a, b) { return b.height - a.height; });
    renditionList.textContent = "";
    if (!ready.length) {
      var li = document.createElement("li");
      li.className = "muted";
      li.textContent = "None yet";
      renditionList.appendChild(li);
      return;
    }
    ready.forEach(function (r) {
      var item = document.createElement("li");
      item.textContent = r.height + "p · " + rs.formatBitrate(r.bandwidth);
      renditionList.appendChild(item);
    });
  }

  function renderStatus(video) {
    state.video = video;
    root.setAttribute("data-status", video.status);
    setBadge(badge, video.status);
    setBadge(headStatus, video.status);
    durationText.textContent = rs.formatDuration(video.duration_s);
    renderRenditions(video.renditions);

    var text = STATUS_TEXT[video.status] || video.status;
    var pct = Math.max(0, Math.min(1, video.progress || 0)) * 100;
    if (video.status === "processing") text += " · " + Math.floor(pct) + "%";
    statusText.textContent = text;
    progressFill.style.width = pct.toFixed(1) + "%";
    progress.setAttribute("aria-valuenow", String(Math.floor(pct)));

    var job = video.job;
    var info = "";
    if (job && video.status !== "ready") {
      if (job.attempts > 0) info = "Attempt " + job.attempts + " of " + job.max_attempts;
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

  function playWithHls(url) {
    var hls = new Hls({ capLevelToPlayerSize: false });
    state.hls = hls;
    var mediaRecoveries = 0;

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

  function startPlayback() {
    if (state.started) return;
    state.started = true;
    overlay.hidden = true;
    rs.getJSON("/api/v1/videos/" + encodeURIComponent(videoId) + "/playback").then(function (pb) {
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
})();
