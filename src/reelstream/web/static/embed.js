/* The embed page (/embed/{id}, templates/embed.html): starts the shared player
 * (static/player.js) when the video is playable; until then it shows "processing" and asks
 * the API again every few seconds (at most for an hour), then plays without a reload.
 */
(function () {
  "use strict";

  var POLL_MS = 3000;
  var MAX_POLLS = 1200;
  var rs = window.reelstream;
  var root = document.getElementById("embed");
  var videoId = root.getAttribute("data-video-id");
  var processing = document.getElementById("embed-processing");
  var statusText = document.getElementById("embed-status");
  var state = window.reelstreamPlayer;
  var polls = 0;

  function poll() {
    polls++;
    rs.getJSON("/api/v1/videos/" + encodeURIComponent(videoId)).then(function (video) {
      state.video = video;
      if (video.playable) {
        processing.hidden = true;
        window.ReelstreamPlayer.start(videoId);
      } else if (video.status === "failed") {
        statusText.textContent = "This video could not be processed.";
      } else if (polls < MAX_POLLS) {
        window.setTimeout(poll, POLL_MS);
      }
    }, function () {
      if (polls < MAX_POLLS) window.setTimeout(poll, POLL_MS * 2);
    });
  }

  poll();
})();
