/* Helpers shared by the reelstream pages (no framework, no build step). */
(function () {
  "use strict";

  function formatBytes(n) {
    if (!isFinite(n) || n < 0) return "—";
    var units = ["B", "KiB", "MiB", "GiB", "TiB"];
    var i = 0;
    while (n >= 1024 && i < units.length - 1) { n /= 1024; i++; }
    return (i === 0 ? String(Math.round(n)) : n.toFixed(1)) + " " + units[i];
  }

  function formatDuration(seconds) {
    if (seconds === null || seconds === undefined || !isFinite(seconds)) return "—";
    var total = Math.round(seconds);
    var h = Math.floor(total / 3600);
    var m = Math.floor((total % 3600) / 60);
    var s = total % 60;
    var ss = (s < 10 ? "0" : "") + s;
    if (h) return h + ":" + (m < 10 ? "0" : "") + m + ":" + ss;
    return m + ":" + ss;
  }

  function formatBitrate(bps) {
    if (!bps) return "—";
    if (bps >= 1e6) return (bps / 1e6).toFixed(1) + " Mbps";
    return Math.round(bps / 1000) + " kbps";
  }

  /* The message of a reelstream JSON error body, or a fallback. */
  function errorMessage(bodyText, fallback) {
    try {
      var body = JSON.parse(bodyText);
      if (body && body.error && body.error.message) return body.error.message;
    } catch (e) { /* not JSON */ }
    return fallback;
  }

  /* fetch JSON; rejects with an Error carrying the server's message. */
  function getJSON(url) {
    return fetch(url, { headers: { Accept: "application/json" }, cache: "no-store" })
      .then(function (res) {
        return res.text().then(function (text) {
          if (!res.ok) {
            var err = new Error(errorMessage(text, "HTTP " + res.status));
            err.status = res.status;
            throw err;
          }
          return JSON.parse(text);
        });
      });
  }

  /* The session's CSRF token (from <meta name="csrf-token">) as request headers: every
     unsafe request a signed-in page makes must carry it. */
  function csrfHeaders() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta && meta.content ? { "X-CSRF-Token": meta.content } : {};
  }

  window.reelstream = {
    csrfHeaders: csrfHeaders,
    formatBytes: formatBytes,
    formatDuration: formatDuration,
    formatBitrate: formatBitrate,
    errorMessage: errorMessage,
    getJSON: getJSON,
  };
})();
