// Drives the npm `remove.bg` client (1.3.0, installed by `make install` with `npm ci`) against an endpoint of our
// choice: its URL is a private constant of the module, so the module's text is loaded with that one string
// replaced (the file on disk is not changed). Used by tests/e2e/test_removebg_clients.py.
//
//   node drive.js <endpoint> <file|url|base64> '<options as JSON>'
//
// Prints one JSON line: {"ok": true, "result": <what the client resolved>} or {"ok": false, "error": <its rejection>}.
"use strict";
const fs = require("fs");
const Module = require("module");
const path = require("path");

const REMOVE_BG_URL = "https://api.remove.bg/v1.0/removebg";

function loadClient(endpoint) {
  const file = require.resolve("remove.bg");
  const source = fs.readFileSync(file, "utf8");
  if (!source.includes(REMOVE_BG_URL)) {
    throw new Error(`${file} no longer holds ${REMOVE_BG_URL}`);
  }
  const patched = new Module(file, module);
  patched.filename = file;
  patched.paths = Module._nodeModulePaths(path.dirname(file));
  patched._compile(source.split(REMOVE_BG_URL).join(endpoint), file);
  return patched.exports;
}

const [endpoint, kind, optionsJson] = process.argv.slice(2);
const client = loadClient(endpoint);
const call = {
  file: client.removeBackgroundFromImageFile,
  url: client.removeBackgroundFromImageUrl,
  base64: client.removeBackgroundFromImageBase64,
}[kind];
call(JSON.parse(optionsJson || "{}")).then(
  (result) => { process.stdout.write(JSON.stringify({ ok: true, result }) + "\n"); },
  (error) => { process.stdout.write(JSON.stringify({ ok: false, error }) + "\n"); },
);
