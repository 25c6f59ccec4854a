// The imgapi playground: log in, run any operation on your images, follow the jobs, compare and download results.
// Plain JavaScript with no dependencies; it only talks to this API (same origin) and to the presigned S3 URLs the
// API hands out. Text from the API is always set as text, never as HTML.
"use strict";

(() => {
  const TOKEN_KEY = "imgapi.token";
  const USER_KEY = "imgapi.user";
  const TERMINAL = new Set(["completed", "failed"]);
  const STATUS_LABELS = {
    uploading: "Uploading", awaiting_upload: "Awaiting upload", pending: "Pending",
    processing: "Processing", completed: "Completed", failed: "Failed",
  };
  const POLL_FIRST_MS = 600;
  const POLL_MAX_MS = 3000;
  const RECENT_PAGE = 10;
  const URL_FRESH_MS = 10 * 60 * 1000; // result URLs are presigned for 15 minutes (PRESIGN_TTL_SECONDS)

  // -- what each operation takes (layers/imgapi/imgapi/operations.py: names, ranges and defaults) -------------

  const ENGINE = {
    name: "engine", label: "Engine", type: "select", value: "",
    options: [["", "Automatic"], ["local", "Local"], ["dashscope", "DashScope"]],
    hint: "Automatic: DashScope where it is configured, else our own worker.",
  };
  const FORMAT = {
    name: "format", label: "Result format", type: "select", value: "png",
    options: [["png", "PNG"], ["webp", "WebP (lossless, smaller)"]],
  };
  const BACKGROUND = { name: "bgcolor", label: "Background", type: "background", value: "#ffffff" };
  const imagesCount = (value) => ({ name: "n", label: "Images (DashScope; local makes one)", type: "number", min: 1, max: 4, step: 1, value });
  const scale = (side) => ({
    name: `${side}_scale`, label: `${side[0].toUpperCase()}${side.slice(1)}`, type: "range",
    min: 1, max: 2, step: 0.05, value: 1.5, show: (v) => `${Number(v).toFixed(2)}×`,
  });
  const prompt = (value, label) => ({ name: "prompt", label, type: "text", value, maxlength: 800 });

  const OPERATIONS = {
    combo: {
      label: "Cut out + enhance", via: "upload",
      help: "Removes the background, then enlarges and sharpens the cut-out. Files go straight to storage " +
        "(up to 10 MB each); each file is its own job.",
      images: [{ field: "file", label: "Images", required: true, multiple: true }],
      params: [{
        name: "enhance_level", label: "Enhance level", type: "select", value: "medium",
        options: [["light", "Light: 2×, gentle sharpening"], ["medium", "Medium: 2×, denoise and sharpen"],
          ["strong", "Strong: 3×, for small or noisy images"]],
      }, FORMAT, BACKGROUND],
    },
    remove_bg: {
      label: "Remove background", via: "upload", route: "/remove_bg",
      help: "A transparent cut-out of the subject. Files go straight to storage (up to 10 MB each); " +
        "or give the URL of an image.",
      images: [{ field: "image", url: "image_url", label: "Images", required: true, multiple: true }],
      params: [FORMAT, BACKGROUND],
    },
    change_bg: {
      label: "Change background", route: "/change_bg",
      help: "Puts the subject in front of a new background. The local engine needs a background image; " +
        "DashScope can paint one from a prompt.",
      images: [{ field: "base_image", url: "base_image_url", label: "Subject", required: true },
        { field: "ref_image", url: "ref_image_url", label: "New background" }],
      params: [{ name: "ref_prompt", label: "Background prompt (DashScope)", type: "text", value: "", maxlength: 800,
        placeholder: "e.g. a sunny beach" }, imagesCount(1), ENGINE],
    },
    change_cloth: {
      label: "Try on clothes", route: "/change_cloth",
      help: "Dresses the person in the garments (a dress goes in Top). Runs on DashScope only.",
      images: [{ field: "person_image", url: "person_image_url", label: "Person", required: true },
        { field: "top_garment", url: "top_garment_url", label: "Top (or dress)" },
        { field: "bottom_garment", url: "bottom_garment_url", label: "Bottom" }],
      params: [],
    },
    expand: {
      label: "Expand", route: "/expand",
      help: "Extends the canvas: a scale multiplies the distance from the centre to that side (2 on every side " +
        "doubles width and height).",
      images: [{ field: "base_image", url: "base_image_url", label: "Image", required: true }],
      params: [scale("top"), scale("bottom"), scale("left"), scale("right"),
        prompt("按照原来图片背景来操作扩展", "Prompt (DashScope)"), imagesCount(2), ENGINE],
    },
    fix: {
      label: "Fix / upscale", route: "/fix",
      help: "Super-resolution and repair: denoise, enlarge by the factor, sharpen.",
      images: [{ field: "base_image", url: "base_image_url", label: "Image", required: true }],
      params: [{ name: "upscale_factor", label: "Upscale factor", type: "range", min: 1, max: 4, step: 1, value: 1,
        show: (v) => `${v}×` }, prompt("图像超分。", "Prompt (DashScope)"), ENGINE],
    },
  };

  // -- small helpers ---------------------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);

  function el(tag, props = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(props)) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "class") node.className = value;
      else if (key === "text") node.textContent = value;
      else if (key === "dataset") Object.assign(node.dataset, value);
      else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key in node && typeof value !== "string") node[key] = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    node.append(...children.filter((c) => c !== null && c !== undefined && c !== false));
    return node;
  }

  function show(node, visible) { node.hidden = !visible; }

  // A file that is not an image has no picture to show: no broken-image icon, the job or the API says why.
  function thumbnail(src) {
    const img = el("img", { alt: "", class: "thumb", onerror: () => img.classList.add("broken"),
      onload: () => img.classList.remove("broken") });
    if (src) img.src = src;
    return img;
  }

  function bytes(n) {
    if (n < 1024) return `${n} B`;
    if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
    return `${(n / 1024 / 1024).toFixed(1)} MB`;
  }

  function when(iso) {
    if (!iso) return "";
    const date = new Date(iso);
    return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
  }

  function seconds(from, to) {
    const ms = new Date(to) - new Date(from);
    if (!Number.isFinite(ms) || ms < 0) return "";
    return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
  }

  function stem(name) {
    const base = String(name || "").split(/[\\/]/).pop().split("?")[0];
    const cut = base.lastIndexOf(".");
    return (cut > 0 ? base.slice(0, cut) : base).replace(/[^\w.-]+/g, "_").slice(0, 80);
  }

  function extensionOf(type) {
    return { "image/png": "png", "image/webp": "webp", "image/jpeg": "jpg" }[String(type).split(";")[0]] || "png";
  }

  // -- talking to the API ----------------------------------------------------------------------------------

  class ApiError extends Error {
    constructor(message, code, status) {
      super(message);
      this.code = code;
      this.status = status;
    }
  }

  // The API answers errors as {"error": ..., "code": ...}; API Gateway's own (413, 429, 5xx) as {"message": ...}.
  function errorFromResponse(response, data, text) {
    let message = data && typeof data.error === "string" ? data.error
      : data && typeof data.message === "string" ? data.message : "";
    if (!message) {
      const plain = text && !/^\s*</.test(text) ? `: ${text.trim().slice(0, 200)}` : "";
      message = `The API answered ${response.status} ${response.statusText || ""}${plain}`.trim();
    }
    const retry = response.headers.get("Retry-After");
    if (response.status === 429 && retry) message += ` (try again in ${retry} s)`;
    return new ApiError(message, (data && data.code) || `http_${response.status}`, response.status);
  }

  async function api(method, path, { json, form, auth = true } = {}) {
    const headers = {};
    let body;
    if (auth) headers.Authorization = `Bearer ${session.token}`;
    if (json !== undefined) {
      headers["Content-Type"] = "application/json";
      body = JSON.stringify(json);
    } else if (form) {
      body = form;
    }
    let response;
    try {
      response = await fetch(path, { method, headers, body, cache: "no-store" });
    } catch (err) {
      throw new ApiError(`Cannot reach the API (${err.message}). Check the connection and try again.`, "network", 0);
    }
    const text = await response.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch { data = null; }
    if (!response.ok) {
      const error = errorFromResponse(response, data, text);
      if (response.status === 401 && auth) signOut(`${error.message.replace(/[.\s]+$/, "")}. Log in again.`);
      throw error;
    }
    if (text && data === null) throw new ApiError("The API answered with something that is not JSON.", "bad_response", response.status);
    return data;
  }

  // S3 answers a refused upload with XML: <Error><Code>EntityTooLarge</Code><Message>...</Message></Error>.
  function storageError(status, text) {
    let code = `http_${status}`;
    let message = `Storage answered ${status}`;
    try {
      const xml = new DOMParser().parseFromString(text || "", "application/xml");
      const found = (name) => xml.getElementsByTagName(name)[0]?.textContent;
      if (found("Code")) code = found("Code");
      if (found("Message")) message = found("Message");
      const max = found("MaxSizeAllowed");
      if (max) message += ` (at most ${bytes(Number(max))})`;
    } catch { /* not XML: the status says it */ }
    return new ApiError(`The upload was refused: ${message}`, code, status);
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

  // -- session ---------------------------------------------------------------------------------------------

  const session = { token: sessionStorage.getItem(TOKEN_KEY), user: sessionStorage.getItem(USER_KEY) };
  let lastUser = session.user;

  function signIn(token, user) {
    if (user !== lastUser) forgetJobs(); // another user's jobs are not theirs to follow
    session.token = token;
    session.user = lastUser = user;
    sessionStorage.setItem(TOKEN_KEY, token);
    sessionStorage.setItem(USER_KEY, user);
    render();
    for (const job of jobs) if (job.taskId && !TERMINAL.has(job.status)) poll(job); // after an expired token
    loadRecent();
  }

  function forgetJobs() {
    for (const job of jobs) clearTimeout(job.timer);
    jobs.length = 0;
    $("jobs").replaceChildren();
    show($("jobs-empty"), true);
    $("recent").replaceChildren();
    show($("viewer"), false);
    viewer.job = null;
  }

  function signOut(message) {
    session.token = null;
    session.user = null;
    sessionStorage.removeItem(TOKEN_KEY);
    sessionStorage.removeItem(USER_KEY);
    for (const job of jobs) clearTimeout(job.timer);
    const error = $("login-error");
    error.textContent = message || "";
    show(error, Boolean(message));
    render();
  }

  function render() {
    const signedIn = Boolean(session.token);
    show($("login-view"), !signedIn);
    show($("app-view"), signedIn);
    show($("session"), signedIn);
    $("who").textContent = session.user ? `Signed in as ${session.user}` : "";
    if (!signedIn) $("login-form").elements.username.focus();
  }

  function banner(message) {
    $("banner-text").textContent = message;
    show($("banner"), true);
  }

  async function onLogin(event) {
    event.preventDefault();
    const fields = event.currentTarget.elements;
    const error = $("login-error");
    show(error, false);
    const username = fields.username.value.trim();
    const button = event.currentTarget.querySelector("button[type=submit]");
    button.disabled = true;
    try {
      const answer = await api("POST", "/api/v1/login",
        { json: { username, password: fields.password.value }, auth: false });
      fields.password.value = "";
      signIn(answer.access_token, username);
    } catch (err) {
      error.textContent = err.message;
      show(error, true);
    } finally {
      button.disabled = false;
    }
  }

  // -- the job form ----------------------------------------------------------------------------------------

  const form = { operation: "combo", slots: {} };

  function renderOperations() {
    const box = $("ops");
    for (const [name, op] of Object.entries(OPERATIONS)) {
      box.append(el("label", { class: "op" },
        el("input", { type: "radio", name: "operation", value: name, checked: name === form.operation,
          onchange: () => selectOperation(name) }),
        el("span", { text: op.label })));
    }
  }

  function selectOperation(name) {
    form.operation = name;
    const op = OPERATIONS[name];
    $("op-help").textContent = op.help;
    show($("form-error"), false);
    form.slots = {};
    const inputs = $("inputs");
    inputs.replaceChildren(...op.images.map(renderSlot));
    $("params").replaceChildren(...op.params.map(renderParam));
  }

  function renderSlot(spec) {
    const slot = { spec, files: [], urlInput: null };
    form.slots[spec.field] = slot;
    const list = el("ul", { class: "chosen" });
    const picker = el("input", {
      type: "file", class: "visually-hidden", accept: "image/jpeg,image/png,image/webp", multiple: Boolean(spec.multiple),
      name: spec.field, dataset: { slot: spec.field },
      onchange: () => { addFiles(slot, picker.files, list); picker.value = ""; },
    });
    const drop = el("label", { class: "drop" }, picker,
      el("span", { class: "drop-main", text: spec.multiple ? "Drop images here or choose files" : "Drop an image here or choose a file" }),
      el("span", { class: "muted small", text: "JPEG, PNG or WebP" }));
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
    return el("div", { class: "slot", dataset: { field: spec.field } }, ...children);
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

  function renderParam(spec) {
    const id = `param-${spec.name}`;
    if (spec.type === "select") {
      const select = el("select", { id, name: spec.name },
        ...spec.options.map(([value, label]) => el("option", { value, text: label, selected: value === spec.value })));
      return el("label", { class: "param" }, el("span", { text: spec.label }), select,
        spec.hint ? el("span", { class: "muted small hint", text: spec.hint }) : null);
    }
    if (spec.type === "range") {
      const output = el("output", { for: id, text: spec.show(spec.value) });
      const input = el("input", { id, name: spec.name, type: "range", min: String(spec.min), max: String(spec.max),
        step: String(spec.step), value: String(spec.value), oninput: () => { output.textContent = spec.show(input.value); } });
      return el("label", { class: "param range" }, el("span", { text: spec.label }), input, output);
    }
    if (spec.type === "number") {
      return el("label", { class: "param" }, el("span", { text: spec.label }),
        el("input", { id, name: spec.name, type: "number", min: String(spec.min), max: String(spec.max),
          step: String(spec.step), value: String(spec.value), inputmode: "numeric" }));
    }
    if (spec.type === "background") {
      const colour = el("input", { type: "color", name: "bgcolor", value: spec.value, disabled: true, "aria-label": "Background colour" });
      const fill = el("select", { id, name: "background", onchange: () => { colour.disabled = fill.value !== "colour"; } },
        el("option", { value: "transparent", text: "Transparent" }), el("option", { value: "colour", text: "Fill with a colour" }));
      return el("div", { class: "param" }, el("label", { for: id, text: spec.label }), el("div", { class: "row" }, fill, colour));
    }
    return el("label", { class: "param wide" }, el("span", { text: spec.label }),
      el("input", { id, name: spec.name, type: "text", value: spec.value, maxlength: String(spec.maxlength || 800),
        placeholder: spec.placeholder || "" }));
  }

  function paramValues() {
    const values = {};
    for (const spec of OPERATIONS[form.operation].params) {
      if (spec.type === "background") {
        const colour = $("params").querySelector("input[name=bgcolor]");
        if (!colour.disabled) values.config = { bgcolor: colour.value };
        continue;
      }
      const input = $(`param-${spec.name}`);
      const value = input.value.trim();
      if (value === "") continue; // the API's default
      values[spec.name] = spec.type === "number" || spec.type === "range" ? Number(value) : value;
    }
    return values;
  }

  async function onSubmit(event) {
    event.preventDefault();
    const op = OPERATIONS[form.operation];
    const error = $("form-error");
    show(error, false);
    const missing = Object.values(form.slots).find((s) => s.spec.required && !s.files.length && !s.urlInput?.value.trim());
    if (missing) {
      error.textContent = `Choose an image for ${missing.spec.label}${missing.spec.url ? " or give its URL" : ""}.`;
      show(error, true);
      return;
    }
    const params = paramValues();
    const batch = {};
    viewer.follow = batch;
    const button = $("run");
    button.disabled = true;
    try {
      if (op.via === "upload") {
        const slot = form.slots[op.images[0].field];
        const url = slot.urlInput?.value.trim();
        const started = slot.files.map((file) => runUploadJob(batch, form.operation, params, file));
        if (url) started.push(runEditJob(batch, form.operation, { json: { [slot.spec.url]: url, ...params } }, [{ label: "Input", src: url, name: url }]));
        await Promise.all(started);
      } else {
        const body = new FormData();
        const inputs = [];
        for (const slot of Object.values(form.slots)) {
          const url = slot.urlInput?.value.trim();
          if (slot.files.length) {
            body.append(slot.spec.field, slot.files[0], slot.files[0].name);
            inputs.push({ label: slot.spec.label, src: slot.files[0].previewUrl, name: slot.files[0].name });
          } else if (url) {
            body.append(slot.spec.url, url);
            inputs.push({ label: slot.spec.label, src: url, name: url });
          }
        }
        for (const [name, value] of Object.entries(params)) body.append(name, String(value));
        await runEditJob(batch, form.operation, { form: body }, inputs);
      }
    } finally {
      button.disabled = false;
    }
  }

  // -- jobs ------------------------------------------------------------------------------------------------

  const jobs = [];

  function track(job) {
    job.status = job.status || "pending";
    job.view = job.view || null;
    job.blobs = {};
    job.card = renderJobCard(job);
    jobs.unshift(job);
    $("jobs").prepend(job.card.root);
    show($("jobs-empty"), false);
    updateCard(job);
    return job;
  }

  function failLocally(job, err) {
    if (err.status === 401) return;
    job.status = "failed";
    job.error = err.message;
    job.code = err.code;
    updateCard(job);
  }

  async function runUploadJob(batch, operation, params, file) {
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

  async function runEditJob(batch, operation, request, inputs) {
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

  function poll(job, delay = POLL_FIRST_MS) {
    clearTimeout(job.timer);
    job.timer = setTimeout(async () => {
      if (!session.token) return;
      try {
        applyView(job, await api("GET", `/api/v1/jobs/${encodeURIComponent(job.taskId)}`));
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
    if (viewer.job === job) {
      openViewer(job); // the one being looked at: now with its result, or its reason
    } else if (job.status === "completed" && viewer.follow && job.batch === viewer.follow) {
      viewer.follow = null; // the first result of the latest submit opens by itself, once
      openViewer(job);
    }
    loadRecent();
  }

  function renderJobCard(job) {
    const thumb = thumbnail(null);
    const title = el("strong", { text: OPERATIONS[job.operation]?.label || job.operation });
    const name = el("span", { class: "file-name" });
    const chip = el("span", { class: "chip" });
    const detail = el("span", { class: "detail" });
    const progress = el("progress", { max: 1 });
    const error = el("p", { class: "error job-error", role: "alert" });
    const open = el("button", { type: "button", class: "secondary small", text: "View",
      onclick: () => openViewer(job, 0, true) });
    const root = el("li", { class: "job" }, thumb,
      el("div", { class: "job-text" }, el("div", {}, title, " ", name), el("div", { class: "status-line" }, chip, detail),
        progress, error), open);
    return { root, thumb, name, chip, detail, progress, error, open };
  }

  function updateCard(job) {
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
  }

  // -- recent jobs -----------------------------------------------------------------------------------------

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

  async function loadRecent(more = false) {
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
        el("span", { class: "recent-main" }, el("strong", { text: OPERATIONS[view.operation]?.label || view.operation }),
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
        view = await api("GET", `/api/v1/jobs/${encodeURIComponent(taskId)}`);
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

  // -- the viewer: before and after, and the download ------------------------------------------------------

  // follow: the submit whose first result opens by itself (until the person opens one themselves).
  const viewer = { job: null, index: 0, mode: "compare", follow: null, shown: null };

  async function openViewer(job, index = 0, chosen = false) {
    viewer.job = job;
    viewer.index = index;
    if (chosen) viewer.follow = null;
    const box = $("viewer");
    show(box, true);
    box.dataset.taskId = job.taskId || "";
    box.dataset.loaded = "false";
    $("viewer-title").textContent = `${OPERATIONS[job.operation]?.label || job.operation}: ${job.label || ""}`;
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
          applyView(job, await api("GET", `/api/v1/jobs/${encodeURIComponent(job.taskId)}`));
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

  // -- start -----------------------------------------------------------------------------------------------

  function start() {
    $("login-form").addEventListener("submit", onLogin);
    $("logout").addEventListener("click", () => signOut(null));
    $("banner-close").addEventListener("click", () => show($("banner"), false));
    $("job-form").addEventListener("submit", onSubmit);
    $("download").addEventListener("click", onDownload);
    $("viewer-close").addEventListener("click", () => { show($("viewer"), false); viewer.job = null; });
    $("mode-compare").addEventListener("click", () => setMode("compare"));
    $("mode-side").addEventListener("click", () => setMode("side"));
    $("compare-range").addEventListener("input", (e) => $("compare").style.setProperty("--pos", `${e.target.value}%`));
    $("recent-refresh").addEventListener("click", () => loadRecent());
    $("recent-more").addEventListener("click", () => loadRecent(true));
    // A file dropped beside a drop zone would make the browser leave the page to show it.
    for (const type of ["dragover", "drop"]) document.addEventListener(type, (e) => e.preventDefault());
    renderOperations();
    selectOperation(form.operation);
    render();
    if (session.token) loadRecent();
  }

  start();
})();
