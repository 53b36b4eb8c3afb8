/* Upload page: resumable upload with tus-js-client (global `tus`) to /api/v1/uploads.
 *
 * - 5 MiB chunks, retried with back-off, so a dropped connection resumes where it stopped;
 * - the upload URL is remembered per file (tus fingerprint in localStorage), so choosing the
 *   same file again after a reload resumes it instead of starting over;
 * - the Video-Id header of the creation response names the video; it is remembered per upload
 *   URL so a resumed upload can still link to its video;
 * - title, description and visibility go in the Upload-Metadata; once uploaded, the page links
 *   to the watch page and to the video's studio (it stays on the upload page).
 */
(function () {
  "use strict";

  var ENDPOINT = "/api/v1/uploads";
  var CHUNK_SIZE = 5 * 1024 * 1024;
  var VIDEO_KEY_PREFIX = "reelstream.video-id:";
  var rs = window.reelstream;

  var form = document.getElementById("upload-form");
  var fileInput = document.getElementById("file");
  var titleInput = document.getElementById("title");
  var descriptionInput = document.getElementById("description");
  var visibilityInput = document.getElementById("visibility");
  var uploadButton = document.getElementById("upload-button");
  var pauseButton = document.getElementById("pause-button");
  var statusBox = document.getElementById("upload-status");
  var bar = document.getElementById("upload-progress");
  var fill = document.getElementById("upload-progress-fill");
  var percentText = document.getElementById("upload-percent");
  var bytesText = document.getElementById("upload-bytes");
  var speedText = document.getElementById("upload-speed");
  var messageText = document.getElementById("upload-message");
  var errorBox = document.getElementById("upload-error");
  var doneBox = document.getElementById("upload-done");
  var watchLink = document.getElementById("watch-link");
  var studioLink = document.getElementById("studio-link");

  var current = null;   // the running tus.Upload
  var videoId = null;
  var samples = [];     // [time ms, bytes] for the speed estimate

  function absoluteUrl(url) {
    return new URL(url, window.location.href).href;
  }

  function rememberVideo(uploadUrl, id) {
    try { window.localStorage.setItem(VIDEO_KEY_PREFIX + absoluteUrl(uploadUrl), id); } catch (e) { /* storage off */ }
  }

  function recallVideo(uploadUrl) {
    try { return window.localStorage.getItem(VIDEO_KEY_PREFIX + absoluteUrl(uploadUrl)); } catch (e) { return null; }
  }

  function forgetVideo(uploadUrl) {
    try { window.localStorage.removeItem(VIDEO_KEY_PREFIX + absoluteUrl(uploadUrl)); } catch (e) { /* storage off */ }
  }

  function showError(message) {
    errorBox.textContent = message;
    errorBox.hidden = false;
  }

  function setBusy(busy) {
    uploadButton.disabled = busy;
    fileInput.disabled = busy;
    titleInput.disabled = busy;
    if (descriptionInput) descriptionInput.disabled = busy;
    visibilityInput.disabled = busy;
    pauseButton.hidden = !busy;
  }

  function speed(bytes) {
    var now = Date.now();
    samples.push([now, bytes]);
    while (samples.length > 2 && now - samples[0][0] > 5000) samples.shift();
    var first = samples[0];
    var dt = (now - first[0]) / 1000;
    return dt > 0.2 ? (bytes - first[1]) / dt : null;
  }

  function onProgress(sent, total) {
    var pct = total ? (sent / total) * 100 : 0;
    fill.style.width = pct.toFixed(1) + "%";
    bar.setAttribute("aria-valuenow", String(Math.floor(pct)));
    percentText.textContent = pct.toFixed(1) + "%";
    bytesText.textContent = rs.formatBytes(sent) + " of " + rs.formatBytes(total);
    var bps = speed(sent);
    speedText.textContent = bps === null ? "—" : rs.formatBytes(bps) + "/s";
  }

  function errorText(err) {
    var res = err && err.originalResponse;
    if (res) {
      var status = res.getStatus();
      var fallback = "The server refused the upload (HTTP " + status + ").";
      return rs.errorMessage(res.getBody(), fallback);
    }
    return "The upload failed: " + (err && err.message ? err.message : String(err)) +
      ". Choose the same file again to resume.";
  }

  function finished(upload) {
    var id = videoId || recallVideo(upload.url);
    forgetVideo(upload.url);
    setBusy(false);
    pauseButton.hidden = true;
    onProgress(upload.file.size, upload.file.size);
    messageText.textContent = "Upload complete.";
    if (!id) {
      showError("The upload finished but the server did not say which video it created.");
      return;
    }
    watchLink.href = "/watch/" + encodeURIComponent(id);
    if (studioLink) studioLink.href = "/studio/" + encodeURIComponent(id);
    doneBox.hidden = false;
    watchLink.focus();
  }

  function start(file) {
    videoId = null;
    samples = [];
    errorBox.hidden = true;
    doneBox.hidden = true;
    statusBox.hidden = false;
    messageText.textContent = "Starting…";
    onProgress(0, file.size);
    setBusy(true);

    var metadata = {
      filename: file.name,
      filetype: file.type || "application/octet-stream",
      visibility: visibilityInput.value,
    };
    var title = titleInput.value.trim();
    if (title) metadata.title = title;
    var description = descriptionInput ? descriptionInput.value.trim() : "";
    if (description) metadata.description = description;

    var upload = new tus.Upload(file, {
      endpoint: ENDPOINT,
      chunkSize: CHUNK_SIZE,
      retryDelays: [0, 1000, 3000, 5000, 10000],
      metadata: metadata,
      headers: window.reelstream.csrfHeaders(),
      storeFingerprintForResuming: true,
      removeFingerprintOnSuccess: true,
      onAfterResponse: function (req, res) {
        var id = res.getHeader("Video-Id");
        if (!id) return;
        videoId = id;
        if (req.getMethod() === "POST") {
          var location = res.getHeader("Location");
          if (location) rememberVideo(new URL(location, absoluteUrl(ENDPOINT)).href, id);
        }
      },
      onProgress: function (sent, total) {
        messageText.textContent = "Uploading…";
        onProgress(sent, total);
      },
      onSuccess: function () { finished(upload); },
      onError: function (err) {
        setBusy(false);
        messageText.textContent = "";
        showError(errorText(err));
      },
    });
    current = upload;

    upload.findPreviousUploads().then(function (previous) {
      if (previous.length) {
        previous.sort(function (a, b) { return String(b.creationTime).localeCompare(String(a.creationTime)); });
        upload.resumeFromPreviousUpload(previous[0]);
        messageText.textContent = "Resuming a previous upload of this file…";
      }
      upload.start();
    }, function () { upload.start(); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var file = fileInput.files && fileInput.files[0];
    if (!file) {
      statusBox.hidden = false;
      showError("Choose a video file first.");
      return;
    }
    start(file);
  });

  pauseButton.addEventListener("click", function () {
    if (!current) return;
    if (pauseButton.textContent === "Pause") {
      current.abort();
      pauseButton.textContent = "Resume";
      messageText.textContent = "Paused.";
      uploadButton.disabled = true;
    } else {
      pauseButton.textContent = "Pause";
      messageText.textContent = "Resuming…";
      current.start();
    }
  });
})();
