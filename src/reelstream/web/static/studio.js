/* The studio page (/studio/{id}): what needs a script there.
 *
 * - Storyboard: fetches the signed storyboard WebVTT (sprite#xywh=x,y,w,h cues) and draws one
 *   button per cue, a tile cropped from its sprite sheet with CSS background-position (set
 *   through the CSSOM: the CSP forbids style attributes). Clicking one puts the cue's time in
 *   the poster form and sends it (a plain POST, redirected back).
 * - Poster updating: while a poster job is pending, polls GET /api/v1/videos/{id} (at most
 *   MAX_POLLS times) until the poster's file name changes, then shows the new one.
 * - Processing: the timeline and its retry buttons (static/timeline.js, as on the watch page).
 * - Replace the source: a tus upload (tus-js-client) to /api/v1/uploads with Upload-Metadata
 *   filename and video_id = this video; the video keeps its id and URLs, and its current
 *   version plays until the new one is published.
 *
 * window.reelstreamStudio = {cues, posterState, replaced} is for the tests.
 */
(function () {
  "use strict";

  var POLL_MS = 1000;
  var MAX_POLLS = 300;
  var CHUNK_SIZE = 5 * 1024 * 1024;
  var rs = window.reelstream;
  var root = document.getElementById("studio");
  if (!root) return;
  var videoId = root.getAttribute("data-video-id");
  var api = "/api/v1/videos/" + encodeURIComponent(videoId);
  var state = { cues: null, posterState: "idle", replaced: null };
  window.reelstreamStudio = state;

  /* -- storyboard --------------------------------------------------------------------------- */

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

  function thumbButton(cue, form, input) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "storyboard-thumb";
    button.setAttribute("role", "listitem");
    button.setAttribute("data-at", String(cue.start));
    button.setAttribute("aria-label", "Use the frame at " + rs.formatDuration(cue.start) + " as the poster");
    var tile = document.createElement("span");
    tile.className = "tile";
    tile.style.width = cue.w + "px";
    tile.style.height = cue.h + "px";
    tile.style.backgroundImage = "url(\"" + cue.url.replace(/"/g, "%22") + "\")";
    tile.style.backgroundPosition = (-cue.x) + "px " + (-cue.y) + "px";
    var at = document.createElement("span");
    at.className = "at";
    at.textContent = rs.formatDuration(cue.start);
    button.appendChild(tile);
    button.appendChild(at);
    button.addEventListener("click", function () {
      input.value = String(cue.start);
      state.posterState = "sending";
      form.submit();
    });
    return button;
  }

  function loadStoryboard() {
    var url = root.getAttribute("data-storyboard-url");
    var grid = document.getElementById("storyboard-grid");
    var form = document.getElementById("poster-form");
    var input = document.getElementById("poster-at");
    if (!url || !grid || !form || !input) { state.cues = []; return; }
    fetch(url).then(function (res) {
      if (!res.ok) throw new Error("HTTP " + res.status);
      return res.text();
    }).then(function (text) {
      var duration = parseFloat(root.getAttribute("data-duration")) || Infinity;
      var cues = parseStoryboard(text, url).filter(function (c) { return c.start < duration; });
      state.cues = cues;
      cues.forEach(function (cue) { grid.appendChild(thumbButton(cue, form, input)); });
    }).catch(function (err) {
      state.cues = [];
      window.console.warn("storyboard unavailable: " + err.message);
    });
  }

  /* -- poster updating ---------------------------------------------------------------------- */

  function fileName(url) {
    if (!url) return "";
    var path = new URL(url, window.location.href).pathname;
    return path.slice(path.lastIndexOf("/") + 1);
  }

  function watchPoster() {
    if (root.getAttribute("data-poster-pending") !== "true") return;
    var pending = document.getElementById("poster-pending");
    var before = fileName(root.getAttribute("data-poster-url"));
    var polls = 0;
    state.posterState = "updating";
    function poll() {
      polls += 1;
      rs.getJSON(api).then(function (video) {
        var now = fileName(video.poster_url);
        if (now && now !== before) {
          var img = document.getElementById("current-poster");
          if (img) img.src = video.poster_url;
          root.setAttribute("data-poster-url", video.poster_url);
          root.setAttribute("data-poster-pending", "false");
          if (pending) pending.hidden = true;
          state.posterState = "done";
          return;
        }
        if (polls < MAX_POLLS) window.setTimeout(poll, POLL_MS);
      }, function () {
        if (polls < MAX_POLLS) window.setTimeout(poll, POLL_MS * 3);
      });
    }
    window.setTimeout(poll, POLL_MS);
  }

  /* -- replace the source ------------------------------------------------------------------- */

  function setupReplace() {
    var form = document.getElementById("replace-form");
    var input = document.getElementById("replace-file");
    var button = document.getElementById("replace-button");
    var box = document.getElementById("replace-status");
    var bar = document.getElementById("replace-progress");
    var fill = document.getElementById("replace-progress-fill");
    var message = document.getElementById("replace-message");
    var errorBox = document.getElementById("replace-error");
    if (!form || typeof tus === "undefined") return;

    function progress(sent, total) {
      var pct = total ? (sent / total) * 100 : 0;
      fill.style.width = pct.toFixed(1) + "%";
      bar.setAttribute("aria-valuenow", String(Math.floor(pct)));
      message.textContent = "Uploading… " + pct.toFixed(0) + "% of " + rs.formatBytes(total);
    }

    function fail(err) {
      var res = err && err.originalResponse;
      var text = res
        ? rs.errorMessage(res.getBody(), "The server refused the upload (HTTP " + res.getStatus() + ").")
        : "The upload failed: " + (err && err.message ? err.message : String(err));
      errorBox.textContent = text;
      errorBox.hidden = false;
      button.disabled = false;
      input.disabled = false;
      message.textContent = "";
      state.replaced = "failed";
    }

    form.addEventListener("submit", function (event) {
      event.preventDefault();
      var file = input.files && input.files[0];
      errorBox.hidden = true;
      if (!file) {
        errorBox.textContent = "Choose the new video file first.";
        errorBox.hidden = false;
        return;
      }
      button.disabled = true;
      input.disabled = true;
      box.hidden = false;
      progress(0, file.size);
      state.replaced = "uploading";
      var upload = new tus.Upload(file, {
        endpoint: "/api/v1/uploads",
        chunkSize: CHUNK_SIZE,
        retryDelays: [0, 1000, 3000, 5000],
        metadata: {
          filename: file.name,
          filetype: file.type || "application/octet-stream",
          video_id: videoId,
        },
        headers: rs.csrfHeaders(),
        storeFingerprintForResuming: false,
        onProgress: progress,
        onSuccess: function () {
          fill.style.width = "100%";
          bar.setAttribute("aria-valuenow", "100");
          message.textContent = "Processing the new version; the current one keeps playing.";
          state.replaced = "uploaded";
          if (window.reelstreamTimeline) window.reelstreamTimeline.refresh();
        },
        onError: fail,
      });
      upload.start();
    });
  }

  /* -- processing ----------------------------------------------------------------------------- */

  function startTimeline() {
    if (!window.reelstreamTimeline) return;
    window.reelstreamTimeline.start(videoId, function () {
      // work finished (or a retry started): the status badge follows the timeline
      var last = window.reelstreamTimeline.last;
      var badge = document.getElementById("studio-status");
      if (last && badge) {
        badge.textContent = last.status;
        badge.className = "badge status-" + last.status;
        root.setAttribute("data-status", last.status);
      }
      // a new source (or anything else) made the permanent failure history
      var permanent = document.getElementById("retry-permanent");
      if (last && permanent && last.retryable !== false) permanent.hidden = true;
    });
  }

  loadStoryboard();
  watchPoster();
  setupReplace();
  startTimeline();
})();
