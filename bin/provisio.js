#!/usr/bin/env node
// The compiled CLI (dist/js, written by `npm run build`, which `npm ci` runs).
"use strict";
const { existsSync } = require("node:fs");
const { join } = require("node:path");

const compiled = join(__dirname, "../dist/js/provisio.js");
if (!existsSync(compiled)) {
  process.stderr.write("provisio: not built yet: run npm run build (npm ci does it)\n");
  process.exit(1);
}

// `npx`/`npm exec` runs this as its child and, sent SIGTERM itself (as a service manager does),
// exits without passing it on: the platform would run on, orphaned. When the parent goes away,
// this process ends as if it had been sent SIGTERM. A process started in the background on
// purpose (the workers of `provisio cluster up`, PROVISIO_BACKGROUND=1) outlives its parent.
const parent = process.ppid;
if (process.env.PROVISIO_BACKGROUND !== "1")
  setInterval(() => {
    if (process.ppid !== parent) process.kill(process.pid, "SIGTERM");
  }, 500).unref();

require(compiled)
  .main(process.argv.slice(2))
  .then((code) => {
    process.exitCode = code;
  });
