// The jobs: a card per job of this session with its status and progress, polling each job until it is done, the
// submit of an edit (one multipart request), and the account's recent jobs, a page at a time. A finished or chosen
// job is handed to the result view.
import { $, el, show, thumbnail, banner, seconds, when } from "./dom.js";
import { api, getJob, session } from "./api.js";
import { OPERATIONS, STATUS_LABELS, TERMINAL, operationLabel } from "./operations.js";
import { closeViewer, jobFinished, openViewer } from "./result.js";

const POLL_FIRST_MS = 600;
const POLL_MAX_MS = 3000;
const RECENT_PAGE = 10;

const jobs = [];

// A job to follow, newest first: {operation, label, inputs: [{label, src, name}], batch?, status?, ...}.
export function track(job) {
  job.status = job.status || "pending";
  job.view = job.view || null;
  job.blobs = {};
  job.refresh = async () => applyView(job, await getJob(job.taskId)); // for the result view: fresh result URLs
  job.card = renderJobCard(job);
  jobs.unshift(job);
  $("jobs").prepend(job.card.root);
  show($("jobs-empty"), false);
  updateCard(job);
  return job;
}

export function failLocally(job, err) {
  if (err.status === 401) return;
  job.status = "failed";
  job.error = err.message;
  job.code = err.code;
  updateCard(job);
}

// An edit sent as it is (multipart form or JSON) to the operation's route, which answers with the job.
export async function runEditJob(batch, operation, request, inputs) {
  const first = inputs[0];
  const job = track({ batch, operation, label: first ? first.name : operation, status: "submitting", inputs });
  try {
    const view = await api("POST", OPERATIONS[operation].route, request);
    applyView(job, view);
    if (!TERMINAL.has(job.status)) poll(job);
    else finished(job);
  } catch (err) {
    failLocally(job, err);
  }
}

function applyView(job, view) {
  job.view = view;
  job.viewAt = Date.now();
  job.taskId = view.task_id;
  job.status = view.status;
  job.error = view.error ? view.error.message : null;
  job.code = view.error ? view.error.code : null;
  job.retrying = view.last_error ? (view.last_error.message || String(view.last_error)) : null;
  updateCard(job);
}

export function poll(job, delay = POLL_FIRST_MS) {
  clearTimeout(job.timer);
  job.timer = setTimeout(async () => {
    if (!session.token) return;
    try {
      await job.refresh();
      job.offline = null;
    } catch (err) {
      if (err.status === 401) return;
      if (err.status >= 400 && err.status < 500 && err.status !== 429) { failLocally(job, err); return; }
      job.offline = `${err.message} Retrying…`; // a passing failure: keep following the job
      updateCard(job);
    }
    if (TERMINAL.has(job.status)) finished(job);
    else poll(job, Math.min(delay * 1.4, POLL_MAX_MS));
  }, delay);
}

function finished(job) {
  jobFinished(job);
  loadRecent();
}

// After a new login: the jobs still running (their polls stopped when the token was refused) are followed again.
export function resumeJobs() {
  for (const job of jobs) if (job.taskId && !TERMINAL.has(job.status)) poll(job);
}

export function stopPolling() {
  for (const job of jobs) clearTimeout(job.timer);
}

// Another user's jobs are not theirs to follow: the lists and the result view are emptied.
export function forgetJobs() {
  stopPolling();
  jobs.length = 0;
  $("jobs").replaceChildren();
  show($("jobs-empty"), true);
  $("recent").replaceChildren();
  closeViewer();
}

function renderJobCard(job) {
  const thumb = thumbnail(null);
  const title = el("strong", { text: operationLabel(job.operation) });
  const name = el("span", { class: "file-name" });
  const chip = el("span", { class: "chip" });
  const detail = el("span", { class: "detail" });
  const progress = el("progress", { max: 1 });
  const error = el("p", { class: "error job-error", role: "alert" });
  const open = el("button", { type: "button", class: "secondary small", text: "View",
    onclick: () => openViewer(job, 0, true) });
  const cancel = el("button", { type: "button", class: "secondary small job-cancel", text: "Cancel",
    onclick: () => cancelJob(job) });
  const root = el("li", { class: "job" }, thumb,
    el("div", { class: "job-text" }, el("div", {}, title, " ", name), el("div", { class: "status-line" }, chip, detail),
      progress, error), open, cancel);
  return { root, thumb, name, chip, detail, progress, error, open, cancel };
}

export function updateCard(job) {
  const card = job.card;
  const status = job.status;
  card.root.dataset.status = status;
  if (job.taskId) card.root.dataset.taskId = job.taskId;
  const src = job.inputs?.[0]?.src;
  if (src && card.thumb.getAttribute("src") !== src) card.thumb.src = src;
  show(card.thumb, Boolean(src));
  card.name.textContent = job.label || "";
  card.chip.textContent = STATUS_LABELS[status] || (status === "submitting" ? "Submitting" : status);
  card.chip.className = `chip status-${status}`;
  let detail = "";
  if (status === "uploading") detail = `${Math.round((job.progress || 0) * 100)}% sent to storage`;
  else if (status === "awaiting_upload") detail = "Uploaded; waiting for it to be taken in";
  else if (status === "pending") detail = "Queued";
  else if (status === "processing") detail = job.retrying ? `Retrying after: ${job.retrying}` : "Working on it…";
  else if (status === "completed") {
    const count = job.view?.results?.length || 0;
    detail = `${count} result${count === 1 ? "" : "s"}` +
      (job.view?.finished_at ? ` in ${seconds(job.view.created_at, job.view.finished_at)}` : "");
  }
  if (job.offline) detail = job.offline;
  card.detail.textContent = detail;
  if (status === "uploading") { card.progress.value = job.progress || 0; show(card.progress, true); }
  else if (!TERMINAL.has(status)) { card.progress.removeAttribute("value"); show(card.progress, true); }
  else show(card.progress, false);
  card.error.textContent = status === "failed" ? `${job.error || "The job failed."}${job.code ? ` (${job.code})` : ""}` : "";
  show(card.error, status === "failed");
  show(card.open, status === "completed");
  show(card.cancel, Boolean(job.taskId) && CANCELLABLE.has(status));
}

// DELETE /api/v1/jobs/{task_id}: the job ends as cancelled (a 409 means it finished first: show how it ended).
const CANCELLABLE = new Set(["awaiting_upload", "pending", "processing"]);

async function cancelJob(job) {
  job.card.cancel.disabled = true;
  try {
    applyView(job, await api("DELETE", `/api/v1/jobs/${job.taskId}`));
  } catch (err) {
    if (err.status === 409) await job.refresh().catch(() => {});
    else if (err.status !== 401) banner(`Cancel: ${err.message}`);
  } finally {
    job.card.cancel.disabled = false;
  }
  if (TERMINAL.has(job.status)) { clearTimeout(job.timer); finished(job); }
}

// -- recent jobs -------------------------------------------------------------------------------------------

const recent = { next: null };

function inputsOfView(view) {
  // Only URL inputs can be shown again: an uploaded file stays in this browser's session.
  return Object.entries(view.params || {})
    .filter(([name, value]) => name.endsWith("_url") && typeof value === "string" && /^https?:/i.test(value))
    .map(([name, value]) => ({ label: name, src: value, name: value }));
}

function labelOfView(view) {
  const params = view.params || {};
  return params.filename || inputsOfView(view)[0]?.name || `uploaded image, task ${view.task_id.slice(0, 8)}`;
}

export async function loadRecent(more = false) {
  if (!session.token) return;
  const query = new URLSearchParams({ limit: String(RECENT_PAGE) });
  if (more && recent.next) query.set("next_token", recent.next);
  let answer;
  try {
    answer = await api("GET", `/api/v1/jobs?${query}`);
  } catch (err) {
    if (err.status !== 401) banner(`Recent jobs: ${err.message}`);
    return;
  }
  recent.next = answer.next_token;
  const rows = answer.jobs.map((view) => el("li", { dataset: { taskId: view.task_id, status: view.status } },
    el("button", { type: "button", class: "recent-row", onclick: () => openRecent(view.task_id) },
      el("span", { class: "recent-main" }, el("strong", { text: operationLabel(view.operation) }),
        el("span", { class: "file-name", text: labelOfView(view) })),
      el("span", { class: "recent-side" }, el("span", { class: `chip status-${view.status}`, text: STATUS_LABELS[view.status] || view.status }),
        el("span", { class: "muted small", text: when(view.created_at) })))));
  if (more) $("recent").append(...rows);
  else $("recent").replaceChildren(...rows);
  show($("recent-empty"), !$("recent").children.length);
  show($("recent-more"), Boolean(recent.next));
}

async function openRecent(taskId) {
  let job = jobs.find((j) => j.taskId === taskId);
  if (!job) {
    let view;
    try {
      view = await getJob(taskId);
    } catch (err) {
      if (err.status !== 401) banner(err.message);
      return;
    }
    job = track({ operation: view.operation, label: labelOfView(view), inputs: inputsOfView(view) });
    job.taskId = taskId;
    applyView(job, view);
    if (!TERMINAL.has(job.status)) poll(job);
  }
  openViewer(job, 0, true);
}

export function initRecent() {
  $("recent-refresh").addEventListener("click", () => loadRecent());
  $("recent-more").addEventListener("click", () => loadRecent(true));
}
