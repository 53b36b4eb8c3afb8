/* Watch page: shows processing progress until the video is playable, then starts the shared
 * player (static/player.js: media-chrome's controls over hls.js or, with ?player=dash, dash.js;
 * see its docstring for why media-chrome, the quality/captions menus, the storyboard thumbnails
 * on the seek bar and the start level).
 *
 * This page's own parts: the status badge, progress and failure reason while processing; the
 * rendition list; resume (a signed-in viewer whose video has a resume_position_s starts there,
 * with a "Resumed from 1:23" note and a Start over button); and "Playing while processing".
 *
 * Playing while processing: a new video is playable (API `playable`) seconds after its
 * upload, while `status` is still "processing": its lowest rung grows (an HLS EVENT playlist,
 * a dynamic DASH MPD) ahead of playback. The player starts at the beginning, keeps reloading the
 * growing manifests until they end, and plays to the end. The page says so ("Playing while
 * processing"): the qualities streamable now (`renditions[].playable`) and those still coming;
 * the poll updates both, and once the video is ready the list shows every rung (the player
 * already playing keeps its qualities; a reload offers them all).
 *
 * State for tests and debugging: window.reelstreamPlayer (player.js).
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
  var durationText = document.getElementById("video-duration");
  var renditionList = document.getElementById("rendition-list");
  var progressiveNote = document.getElementById("progressive-note");
  var progressiveText = document.getElementById("progressive-text");

  var resumeNote = document.getElementById("resume-note");
  var resumeText = document.getElementById("resume-text");
  var resumeRestart = document.getElementById("resume-restart");
  var RESUME_MIN_S = 3;  // closer than this to either end: start from the beginning

  var state = window.reelstreamPlayer;

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
    overlay.hidden = true;
    window.ReelstreamPlayer.start(videoId).then(function (started) {
      if (started && state.video) setupResume(state.video);
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
