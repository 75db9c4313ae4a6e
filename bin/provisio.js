#!/usr/bin/env node
// Runs the TypeScript CLI through tsx, so `npx provisio` works straight from a checkout.
"use strict";
require("tsx/cjs");
const { main } = require("../simulator/cli.ts");
main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
