#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx provisio` works straight from a checkout.
"use strict";
require("tsx/cjs");
const { main } = require("../simulator/cli/main.ts");

// `npx`/`npm exec` runs this as its child and, sent SIGTERM itself (as a service manager does),
// exits without passing it on: the platform would run on, orphaned. When the parent goes away,
// this process ends as if it had been sent SIGTERM.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) process.kill(process.pid, "SIGTERM");
}, 500).unref();

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
