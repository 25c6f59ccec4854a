// Files: choosing them for an image slot (file picker or drag and drop, with previews), and the direct upload of a
// file as a job: POST /api/v1/uploads for a presigned POST, then the file straight to storage with its progress.
import { el, thumbnail, bytes } from "./dom.js";
import { api, ApiError, storageError } from "./api.js";
import { failLocally, poll, track, updateCard } from "./jobs.js";

// An image slot of the form (spec: {field, url?, label, required?, multiple?}): its node, and the slot, which holds
// the files chosen for it and its URL input if it takes one.
export function renderSlot(spec) {
  const slot = { spec, files: [], urlInput: null };
  const list = el("ul", { class: "chosen" });
  const picker = el("input", {
    type: "file", class: "visually-hidden", accept: "image/jpeg,image/png,image/webp,image/heic,image/heif,.heic,.heif,image/avif", multiple: Boolean(spec.multiple),
    name: spec.field, dataset: { slot: spec.field },
    onchange: () => { addFiles(slot, picker.files, list); picker.value = ""; },
  });
  const drop = el("label", { class: "drop" }, picker,
    el("span", { class: "drop-main", text: spec.multiple ? "Drop images here or choose files" : "Drop an image here or choose a file" }),
    el("span", { class: "muted small", text: "JPEG, PNG, WebP, HEIC or AVIF" }));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("over");
    addFiles(slot, e.dataTransfer.files, list);
  });
  const children = [
    el("div", { class: "slot-label" }, el("strong", { text: spec.label }),
      spec.required ? el("span", { class: "muted small", text: " required" }) : el("span", { class: "muted small", text: " optional" })),
    drop, list,
  ];
  if (spec.url) {
    slot.urlInput = el("input", { type: "url", inputmode: "url", placeholder: "https://example.com/image.jpg", name: spec.url });
    children.push(el("label", { class: "url" }, el("span", { class: "small muted", text: "or the image's URL" }), slot.urlInput));
  }
  return { slot, node: el("div", { class: "slot", dataset: { field: spec.field } }, ...children) };
}

function addFiles(slot, files, list) {
  const chosen = Array.from(files || []);
  if (!chosen.length) return;
  for (const file of chosen) file.previewUrl = file.previewUrl || URL.createObjectURL(file);
  slot.files = slot.spec.multiple ? slot.files.concat(chosen) : chosen.slice(0, 1);
  renderChosen(slot, list);
}

function renderChosen(slot, list) {
  list.replaceChildren(...slot.files.map((file) => el("li", {},
    thumbnail(file.previewUrl),
    el("span", { class: "file-name", text: file.name }),
    el("span", { class: "muted small", text: bytes(file.size) }),
    el("button", { type: "button", class: "icon", "aria-label": `Remove ${file.name}`, text: "×",
      onclick: () => { slot.files = slot.files.filter((f) => f !== file); renderChosen(slot, list); } }))));
}

// A presigned S3 POST: the policy's fields, then the file (S3 ignores fields after it). XHR, for its progress.
function postToStorage(upload, file, onProgress) {
  return new Promise((resolve, reject) => {
    const form = new FormData();
    for (const [name, value] of Object.entries(upload.fields)) form.append(name, value);
    form.append("file", file);
    const xhr = new XMLHttpRequest();
    xhr.open("POST", upload.url);
    xhr.upload.addEventListener("progress", (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); });
    xhr.addEventListener("load", () => (xhr.status >= 200 && xhr.status < 300
      ? resolve() : reject(storageError(xhr.status, xhr.responseText))));
    xhr.addEventListener("error", () => reject(new ApiError(
      "Could not reach storage to upload the file (the connection failed, or the bucket does not allow this page: " +
      "see its CORS rule).", "network", 0)));
    xhr.send(form);
  });
}

export async function runUploadJob(batch, operation, params, file) {
  const job = track({ batch, operation, label: file.name, status: "uploading", progress: 0,
    inputs: [{ label: "Input", src: file.previewUrl, name: file.name }] });
  try {
    const answer = await api("POST", "/api/v1/uploads", { json: {
      operation, params, filename: file.name, content_type: file.type || undefined, size: file.size } });
    job.taskId = answer.task_id;
    updateCard(job);
    if (answer.upload) {
      await postToStorage(answer.upload, file, (fraction) => { job.progress = fraction; updateCard(job); });
    }
    job.status = "awaiting_upload";
    updateCard(job);
    poll(job);
  } catch (err) {
    failLocally(job, err);
  }
}

// A file dropped beside a drop zone would make the browser leave the page to show it.
export function guardPageDrops() {
  for (const type of ["dragover", "drop"]) document.addEventListener(type, (e) => e.preventDefault());
}
