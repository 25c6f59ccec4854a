// Who is signed in, as the page shows it: the login form, logging out, and which view shows (the login form or the
// app). Signing in as someone else forgets the jobs of the one before; a refused token signs out, saying why.
import { $, show } from "./dom.js";
import { clearSession, login, saveSession, session } from "./api.js";
import { forgetJobs, loadRecent, resumeJobs, stopPolling } from "./jobs.js";
import { clearKeys, loadKeys } from "./keys.js";

let lastUser = session.user;

function signIn(token, user) {
  if (user !== lastUser) forgetJobs(); // another user's jobs are not theirs to follow
  saveSession(token, user);
  lastUser = user;
  render();
  resumeJobs(); // after an expired token
  loadRecent();
  loadKeys();
}

export function signOut(message) {
  clearSession();
  stopPolling();
  clearKeys(); // the last user's keys and a key shown once do not stay on the page
  const error = $("login-error");
  error.textContent = message || "";
  show(error, Boolean(message));
  render();
}

// A call answered 401: the API's reason, and the login form.
export function tokenRefused(error) {
  signOut(`${error.message.replace(/[.\s]+$/, "")}. Log in again.`);
}

export function render() {
  const signedIn = Boolean(session.token);
  show($("login-view"), !signedIn);
  show($("app-view"), signedIn);
  show($("session"), signedIn);
  $("who").textContent = session.user ? `Signed in as ${session.user}` : "";
  if (!signedIn) $("login-form").elements.username.focus();
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
    const token = await login(username, fields.password.value);
    fields.password.value = "";
    signIn(token, username);
  } catch (err) {
    error.textContent = err.message;
    show(error, true);
  } finally {
    button.disabled = false;
  }
}

export function initSession() {
  $("login-form").addEventListener("submit", onLogin);
  $("logout").addEventListener("click", () => signOut(null));
}
