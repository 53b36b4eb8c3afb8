"""Server-rendered pages and the browser assets (hls.js, tus-js-client from npm)."""
