// The result view: a job's input and result, compared with a before/after slider or side by side, a pick among
// several results, and the download. A result is fetched once (as a blob), with fresh presigned URLs when those
// the job was read with may have expired. The job list hands jobs to it; it never calls back into the list.
import { $, el, show, bytes, stem, extensionOf, banner } from "./dom.js";
import { ApiError, storageError } from "./api.js";
import { STATUS_LABELS, operationLabel } from "./operations.js";

const URL_FRESH_MS = 10 * 60 * 1000; // result URLs are presigned for 15 minutes (PRESIGN_TTL_SECONDS)

// follow: the submit whose first result opens by itself (until the person opens one themselves).
const viewer = { job: null, index: 0, mode: "compare", follow: null, shown: null };

// The jobs of this submit (an object shared by them, as job.batch): the first to complete opens by itself.
export function followBatch(batch) { viewer.follow = batch; }

// A job has finished: shown again if it is the one being looked at, or opened if it is the latest submit's first.
export function jobFinished(job) {
  if (viewer.job === job) {
    openViewer(job); // the one being looked at: now with its result, or its reason
  } else if (job.status === "completed" && viewer.follow && job.batch === viewer.follow) {
    viewer.follow = null; // the first result of the latest submit opens by itself, once
    openViewer(job);
  }
}

export function closeViewer() {
  show($("viewer"), false);
  viewer.job = null;
}

export async function openViewer(job, index = 0, chosen = false) {
  viewer.job = job;
  viewer.index = index;
  if (chosen) viewer.follow = null;
  const box = $("viewer");
  show(box, true);
  box.dataset.taskId = job.taskId || "";
  box.dataset.loaded = "false";
  $("viewer-title").textContent = `${operationLabel(job.operation)}: ${job.label || ""}`;
  const status = $("viewer-status");
  const results = job.view?.results || [];
  const ready = job.status === "completed" && results.length > 0;
  status.textContent = job.status === "failed" ? `Failed: ${job.error || "no reason given"}`
    : ready ? "" : `${STATUS_LABELS[job.status] || job.status}: the result appears here when the job is done.`;
  box.dataset.state = ready ? "ready" : job.status;
  show($("compare"), ready && viewer.mode === "compare");
  show($("side"), ready && viewer.mode === "side");
  $("download").disabled = !ready;
  const picks = $("result-picks");
  picks.replaceChildren(...results.map((result, i) => el("button", {
    type: "button", class: `pick${i === index ? " selected" : ""}`, "aria-label": `Result ${i + 1}`,
    onclick: () => openViewer(job, i, true) }, el("img", { src: result.url, alt: "" }))));
  show(picks, results.length > 1);
  const notes = (job.view?.notes || []).concat(job.view?.failures?.map((f) => `Image ${f.index + 1}: ${f.message} (${f.code})`) || []);
  $("viewer-notes").replaceChildren(...notes.map((note) => el("li", { text: note })));
  const meta = [];
  if (job.view?.engine) meta.push(`engine: ${job.view.engine}`);
  if (job.taskId) meta.push(`task ${job.taskId}`);
  $("viewer-meta").textContent = meta.join(" · ");
  if (chosen) box.scrollIntoView({ behavior: "smooth", block: "start" });
  if (!ready) return;
  const result = results[index];
  const before = job.inputs?.[0]?.src || "";
  for (const id of ["compare-before", "side-before"]) {
    const img = $(id);
    if (before) img.src = before; else img.removeAttribute("src");
    show(img, Boolean(before));
  }
  if (!before) status.textContent = "The input of a file uploaded in another session is not kept by this page.";
  let src;
  try {
    src = URL.createObjectURL(await resultBlob(job, index));
  } catch (err) {
    status.textContent = err.message;
    src = result.url; // still worth showing: an <img> needs no CORS
  }
  if (viewer.job !== job || viewer.index !== index) return; // another result was opened meanwhile
  const after = $("compare-after");
  after.addEventListener("load", () => {
    $("compare").style.setProperty("--ratio", String(after.naturalWidth / after.naturalHeight));
    box.dataset.loaded = "true";
  }, { once: true });
  after.removeAttribute("src"); // a load event even when the address is the same as before
  after.src = src;
  $("side-after").src = src;
  if (viewer.shown && viewer.shown !== src) URL.revokeObjectURL(viewer.shown); // the result shown before
  viewer.shown = src.startsWith("blob:") ? src : null;
  const size = result.width && result.height ? `${result.width}×${result.height}` : "";
  $("viewer-meta").textContent = [size, result.size_bytes ? bytes(result.size_bytes) : "", ...meta].filter(Boolean).join(" · ");
}

async function resultBlob(job, index) {
  if (!job.blobs[index]) {
    job.blobs[index] = (async () => {
      if (Date.now() - job.viewAt > URL_FRESH_MS) { // its presigned URLs may have expired: ask for new ones
        await job.refresh(); // the job list reads the job again
      }
      const result = job.view.results[index];
      let response;
      try {
        response = await fetch(result.url, { cache: "no-store" });
      } catch (err) {
        throw new ApiError(`Could not download the result from storage (${err.message}).`, "network", 0);
      }
      if (!response.ok) throw storageError(response.status, await response.text());
      return response.blob();
    })();
    job.blobs[index].catch(() => { delete job.blobs[index]; });
  }
  return job.blobs[index];
}

function downloadName(job, index, type) {
  const base = stem(job.view?.params?.filename || job.inputs?.[0]?.name) || job.taskId.slice(0, 8);
  const several = (job.view?.results?.length || 0) > 1 ? `-${index + 1}` : "";
  return `${base}-${job.operation}${several}.${extensionOf(type || job.view.results[index].content_type)}`;
}

async function onDownload() {
  const { job, index } = viewer;
  if (!job) return;
  const button = $("download");
  button.disabled = true;
  try {
    const blob = await resultBlob(job, index);
    const url = URL.createObjectURL(blob);
    const link = el("a", { href: url, download: downloadName(job, index, blob.type) });
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
  } catch (err) {
    banner(err.message);
  } finally {
    button.disabled = false;
  }
}

function setMode(mode) {
  viewer.mode = mode;
  $("mode-compare").setAttribute("aria-pressed", String(mode === "compare"));
  $("mode-side").setAttribute("aria-pressed", String(mode === "side"));
  if (viewer.job) {
    const ready = $("viewer").dataset.state === "ready";
    show($("compare"), ready && mode === "compare");
    show($("side"), ready && mode === "side");
  }
}

export function initViewer() {
  $("download").addEventListener("click", onDownload);
  $("viewer-close").addEventListener("click", closeViewer);
  $("mode-compare").addEventListener("click", () => setMode("compare"));
  $("mode-side").addEventListener("click", () => setMode("side"));
  $("compare-range").addEventListener("input", (e) => $("compare").style.setProperty("--pos", `${e.target.value}%`));
}
