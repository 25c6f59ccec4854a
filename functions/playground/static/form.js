// The job form: the operation picker, the chosen operation's image slots and parameters, and the submit, which
// starts one upload job per file (operations that go through storage) or one multipart edit.
import { $, el, show } from "./dom.js";
import { OPERATIONS } from "./operations.js";
import { renderSlot, runUploadJob } from "./upload.js";
import { runEditJob } from "./jobs.js";
import { followBatch } from "./result.js";

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
  inputs.replaceChildren(...op.images.map((spec) => {
    const { slot, node } = renderSlot(spec);
    form.slots[spec.field] = slot;
    return node;
  }));
  $("params").replaceChildren(...op.params.map(renderParam));
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
  followBatch(batch);
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

export function initForm() {
  $("job-form").addEventListener("submit", onSubmit);
  renderOperations();
  selectOperation(form.operation);
}
