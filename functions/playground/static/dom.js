// Page helpers every module uses: finding and building elements (text always set as text, never as HTML), showing
// and hiding them, the error banner, and the formatting of sizes, dates, durations and file names. No state.

export const $ = (id) => document.getElementById(id);

export function el(tag, props = {}, ...children) {
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

export function show(node, visible) { node.hidden = !visible; }

// A file that is not an image has no picture to show: no broken-image icon, the job or the API says why.
export function thumbnail(src) {
  const img = el("img", { alt: "", class: "thumb", onerror: () => img.classList.add("broken"),
    onload: () => img.classList.remove("broken") });
  if (src) img.src = src;
  return img;
}

export function banner(message) {
  $("banner-text").textContent = message;
  show($("banner"), true);
}

export function bytes(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  return `${(n / 1024 / 1024).toFixed(1)} MB`;
}

export function when(iso) {
  if (!iso) return "";
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function seconds(from, to) {
  const ms = new Date(to) - new Date(from);
  if (!Number.isFinite(ms) || ms < 0) return "";
  return ms < 1000 ? `${ms} ms` : `${(ms / 1000).toFixed(1)} s`;
}

export function stem(name) {
  const base = String(name || "").split(/[\\/]/).pop().split("?")[0];
  const cut = base.lastIndexOf(".");
  return (cut > 0 ? base.slice(0, cut) : base).replace(/[^\w.-]+/g, "_").slice(0, 80);
}

export function extensionOf(type) {
  return { "image/png": "png", "image/webp": "webp", "image/avif": "avif", "image/jpeg": "jpg" }[String(type).split(";")[0]] || "png";
}
