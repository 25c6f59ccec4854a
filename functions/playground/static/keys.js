// API keys, for servers that call the API without a password: create one (shown once, with a copy button), list
// yours (never the keys themselves: the API does not keep them), revoke one at once. Text is set as text only.
import { $, el, show, when } from "./dom.js";
import { api } from "./api.js";

function renderKeys(keys) {
  const list = $("keys");
  list.replaceChildren(...keys.map((key) => el("li", { class: "key-row", dataset: { keyId: key.id } },
    el("div", { class: "key-main" },
      el("strong", { text: key.name }),
      el("span", { class: "muted small", text: `${key.prefix}… · created ${when(key.created_at)} · ` +
        (key.last_used_at ? `last used ${when(key.last_used_at)}` : "never used") })),
    el("button", { type: "button", class: "secondary small", text: "Revoke",
      "aria-label": `Revoke the key ${key.name}`, onclick: () => revoke(key) }))));
  show($("keys-empty"), keys.length === 0);
}

export function clearKeys() {
  $("keys").replaceChildren();
  $("new-key-value").textContent = "";
  show($("new-key"), false);
}

export async function loadKeys() {
  const error = $("keys-error");
  show(error, false);
  try {
    renderKeys((await api("GET", "/api/v1/api-keys")).keys);
  } catch (err) {
    error.textContent = err.message;
    show(error, true);
  }
}

async function revoke(key) {
  if (!window.confirm(`Revoke the API key "${key.name}"? Servers using it are refused from now on.`)) return;
  try {
    await api("DELETE", `/api/v1/api-keys/${encodeURIComponent(key.id)}`);
  } catch (err) {
    if (err.status !== 404) { $("keys-error").textContent = err.message; show($("keys-error"), true); return; }
  }
  await loadKeys();
}

async function onCreate(event) {
  event.preventDefault();
  const form = event.currentTarget;
  const error = $("keys-error");
  show(error, false);
  const button = form.querySelector("button[type=submit]");
  button.disabled = true;
  try {
    const created = await api("POST", "/api/v1/api-keys", { json: { name: form.elements.name.value.trim() } });
    form.reset();
    $("new-key-value").textContent = created.key;
    show($("new-key"), true);
    await loadKeys();
  } catch (err) {
    error.textContent = err.message;
    show(error, true);
  } finally {
    button.disabled = false;
  }
}

async function copyKey() {
  const text = $("new-key-value").textContent;
  try {
    await navigator.clipboard.writeText(text);
    $("new-key-copy").textContent = "Copied";
  } catch {
    window.getSelection().selectAllChildren($("new-key-value")); // select it to copy by hand
  }
}

export function initKeys() {
  $("key-form").addEventListener("submit", onCreate);
  $("new-key-copy").addEventListener("click", copyKey);
  $("new-key-done").addEventListener("click", clearKeysShown);
  $("keys-refresh").addEventListener("click", loadKeys);
}

function clearKeysShown() {
  $("new-key-value").textContent = "";
  $("new-key-copy").textContent = "Copy";
  show($("new-key"), false);
}
