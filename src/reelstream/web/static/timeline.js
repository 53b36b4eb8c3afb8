/* The processing timeline on the watch page: every stage of the video's processing (upload,
 * probe, one encode per rendition, package, publish) with its state, progress, detail and
 * failure reason, the overall progress and ETA, and — for the owner and admins — buttons to
 * retry a failed video or a failed rendition (POST .../retry, with the CSRF token).
 *
 * Polls GET /api/v1/videos/{id}/timeline every second while something is queued or running,
 * and calls `onSettled` when work that was running finishes (so the page can reload the
 * video's state). window.reelstreamTimeline.last is the last timeline seen (for tests).
 */
(function () {
  "use strict";

  var ACTIVE_MS = 1000;
  var PERMANENT_HINT = "Retrying will not help: upload a different file.";
  var rs = window.reelstream;
  var STAGE_NAMES = {
    upload: "Upload", probe: "Probe", playable: "Playable", package: "Package", publish: "Publish",
  };
  var STATE_TEXT = {
    pending: "waiting", running: "running", done: "done", failed: "failed", skipped: "skipped",
  };

  function stageLabel(stage) {
    if (stage.name === "chunk") return "Chunk " + (stage.rendition || "");
    if (stage.name !== "encode") return STAGE_NAMES[stage.name] || stage.name;
    if (!stage.rendition) return "Encode";
    if (stage.rendition === "audio") return "Encode audio";
    var m = /^v(\d+)$/.exec(stage.rendition);
    return "Encode " + (m ? m[1] + "p" : stage.rendition);
  }

  function formatEta(seconds) {
    if (seconds === null || seconds === undefined) return "";
    if (seconds < 1) return "almost done";
    return "about " + rs.formatDuration(Math.ceil(seconds)) + " left";
  }

  function isActive(timeline) {
    var job = timeline.job;
    return timeline.status === "uploading" || timeline.status === "queued" ||
      timeline.status === "processing" ||
      (job !== null && (job.state === "queued" || job.state === "running"));
  }

  function start(videoId, onSettled) {
    var root = document.getElementById("timeline");
    if (!root) return;
    var list = document.getElementById("timeline-stages");
    var summary = document.getElementById("timeline-summary");
    var retryBox = document.getElementById("retry-box");
    var retryVideo = document.getElementById("retry-video");
    var retryError = document.getElementById("retry-error");
    var base = "/api/v1/videos/" + encodeURIComponent(videoId);
    var api = window.reelstreamTimeline;
    var wasActive = null;
    var timer = null;

    function retry(path, button) {
      button.disabled = true;
      retryError.hidden = true;
      var headers = Object.assign({ Accept: "application/json" }, rs.csrfHeaders());
      fetch(base + path, { method: "POST", headers: headers, credentials: "same-origin" })
        .then(function (res) {
          return res.text().then(function (text) {
            if (!res.ok) throw new Error(rs.errorMessage(text, "HTTP " + res.status));
            render(JSON.parse(text));
            if (onSettled) onSettled();
            schedule(0);
          });
        })
        .catch(function (err) {
          retryError.textContent = "Cannot retry: " + err.message;
          retryError.hidden = false;
          button.disabled = false;
        });
    }

    function renderStage(stage, retryable) {
      var li = document.createElement("li");
      li.className = "stage stage-" + stage.state;
      li.setAttribute("data-stage", stage.name);
      if (stage.rendition) li.setAttribute("data-rendition", stage.rendition);
      li.setAttribute("data-state", stage.state);
      var head = document.createElement("div");
      head.className = "stage-head";
      var name = document.createElement("span");
      name.className = "stage-name";
      name.textContent = stageLabel(stage);
      var state = document.createElement("span");
      state.className = "stage-state";
      var text = STATE_TEXT[stage.state] || stage.state;
      if (stage.state === "running") text += " · " + Math.floor(stage.progress * 100) + "%";
      if (stage.state === "done" && stage.started_at && stage.finished_at) {
        var took = (Date.parse(stage.finished_at) - Date.parse(stage.started_at)) / 1000;
        if (took >= 0.05) text += " · " + took.toFixed(1) + " s";
      }
      state.textContent = text;
      head.appendChild(name);
      head.appendChild(state);
      li.appendChild(head);
      if (stage.state === "running") {
        var bar = document.createElement("div");
        bar.className = "progress stage-progress";
        var fill = document.createElement("div");
        fill.className = "progress-fill";
        fill.style.width = (stage.progress * 100).toFixed(1) + "%";
        bar.appendChild(fill);
        li.appendChild(bar);
      }
      if (stage.detail) {
        var detail = document.createElement("p");
        detail.className = "stage-detail muted";
        detail.textContent = stage.detail;
        li.appendChild(detail);
      }
      if (stage.error) {
        var error = document.createElement("p");
        error.className = "stage-error";
        error.textContent = stage.error;
        li.appendChild(error);
      }
      if (retryable) {
        var button = document.createElement("button");
        button.type = "button";
        button.className = "button retry-rendition";
        button.textContent = "Retry " + stageLabel(stage).replace("Encode ", "");
        button.addEventListener("click", function () {
          retry("/renditions/" + encodeURIComponent(stage.rendition) + "/retry", button);
        });
        li.appendChild(button);
      }
      return li;
    }

    function render(timeline) {
      api.last = timeline;
      root.setAttribute("data-status", timeline.status);
      list.textContent = "";
      var retryable = timeline.retry.renditions || [];
      timeline.stages.forEach(function (stage) {
        var can = stage.name === "encode" && retryable.indexOf(stage.rendition) >= 0;
        list.appendChild(renderStage(stage, can));
      });
      var parts = [];
      var job = timeline.job;
      if (isActive(timeline) && timeline.status !== "uploading") {
        parts.push(Math.floor(timeline.progress * 100) + "%");
        var eta = formatEta(timeline.eta_s);
        if (eta) parts.push(eta);
        if (job && job.attempts > 1) parts.push("attempt " + job.attempts + " of " + job.max_attempts);
        if (job && job.state === "queued" && job.last_error) {
          parts.push("retrying after: " + job.last_error);
        }
      } else if (timeline.status === "failed") {
        var reason = "Failed: " + (timeline.error || "unknown reason").replace(/\.$/, "") + ".";
        // a permanent failure (the file itself): no retry is offered, and none is promised
        if (timeline.retryable === false) reason += " " + PERMANENT_HINT;
        parts.push(reason);
      } else if (timeline.status === "ready") {
        var failed = timeline.stages.filter(function (s) { return s.state === "failed"; });
        parts.push(failed.length ? "Ready, without " + failed.length + " rendition" +
          (failed.length === 1 ? "" : "s") : "Ready");
      }
      summary.textContent = parts.join(" · ");
      retryBox.hidden = !timeline.retry.video;
      retryVideo.disabled = false;
    }

    function schedule(ms) {
      if (timer !== null) window.clearTimeout(timer);
      timer = window.setTimeout(poll, ms);
    }

    function poll() {
      timer = null;
      rs.getJSON(base + "/timeline").then(function (timeline) {
        render(timeline);
        var active = isActive(timeline);
        if (wasActive && !active && onSettled) onSettled();
        wasActive = active;
        if (active) schedule(ACTIVE_MS);
      }, function (err) {
        summary.textContent = "Cannot load the timeline (" + err.message + ")";
        if (err.status !== 404 && err.status !== 403) schedule(ACTIVE_MS * 3);
      });
    }

    retryVideo.addEventListener("click", function () { retry("/retry", retryVideo); });
    api.refresh = function () { schedule(0); };
    poll();
  }

  window.reelstreamTimeline = { start: start, last: null, refresh: function () {} };
})();
