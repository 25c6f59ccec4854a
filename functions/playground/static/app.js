// The imgapi playground: log in, run any operation on your images, follow the jobs, compare and download results.
// Plain JavaScript modules with no dependencies and no build step; they only talk to this API (same origin) and to
// the presigned S3 URLs the API hands out. Text from the API is always set as text, never as HTML.
// This module, the page's entry, wires the others: api (client and token), session (login), form (the job form),
// upload (files and direct uploads), jobs (the job lists and polling), result (compare and download), keys (API keys).
import { $, show } from "./dom.js";
import { onUnauthorized, session } from "./api.js";
import { initSession, render, tokenRefused } from "./session.js";
import { initForm } from "./form.js";
import { guardPageDrops } from "./upload.js";
import { initRecent, loadRecent } from "./jobs.js";
import { initViewer } from "./result.js";
import { initKeys, loadKeys } from "./keys.js";

function start() {
  onUnauthorized(tokenRefused);
  initSession();
  $("banner-close").addEventListener("click", () => show($("banner"), false));
  initViewer();
  initRecent();
  guardPageDrops();
  initForm();
  initKeys();
  render();
  if (session.token) { loadRecent(); loadKeys(); }
}

start();
