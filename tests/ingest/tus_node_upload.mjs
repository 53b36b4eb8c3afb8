// Upload one file to a reelstream server with tus-js-client under Node.
//
//   node tus_node_upload.mjs <node_modules dir> <endpoint> <file> <buffer|stream-with-data>
//
// The access token comes from the environment (REELSTREAM_TOKEN), sent as a Bearer token.
//
// Prints {"url": ..., "videoId": ...} on success; exits 1 with the error on failure.
import fs from "node:fs";
import { createRequire } from "node:module";
import path from "node:path";

const [modulesDir, endpoint, filePath, mode = "buffer"] = process.argv.slice(2);
const require = createRequire(path.join(path.resolve(modulesDir), "resolve-from-here.js"));
const tus = require("tus-js-client");

const input = mode === "buffer" ? fs.readFileSync(filePath) : fs.createReadStream(filePath);
let videoId = null;

const upload = new tus.Upload(input, {
  endpoint,
  headers: process.env.REELSTREAM_TOKEN
    ? { Authorization: `Bearer ${process.env.REELSTREAM_TOKEN}` }
    : {},
  chunkSize: 256 * 1024,
  retryDelays: [0, 500, 1000, 2000],
  uploadDataDuringCreation: mode === "stream-with-data",
  metadata: { filename: path.basename(filePath), title: "uploaded by tus-js-client" },
  onAfterResponse(_req, res) {
    const vid = res.getHeader("Video-Id");
    if (vid) videoId = vid;
  },
  onError(error) {
    console.error(`upload failed: ${error}`);
    process.exit(1);
  },
  onSuccess() {
    console.log(JSON.stringify({ url: upload.url, videoId }));
  },
});
upload.start();
