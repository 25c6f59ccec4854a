// The API client: the session's token (kept in sessionStorage), logging in, calls to this API with its errors as
// ApiError, and the errors storage (S3) answers in XML. It knows nothing of the page: a token the API refuses is
// reported to the handler set with onUnauthorized.
import { bytes } from "./dom.js";

const TOKEN_KEY = "imgapi.token";
const USER_KEY = "imgapi.user";

export const session = { token: sessionStorage.getItem(TOKEN_KEY), user: sessionStorage.getItem(USER_KEY) };

let unauthorized = () => {};

// handler(error): a call with the token was answered 401 (expired, or signed with another key).
export function onUnauthorized(handler) { unauthorized = handler; }

export function saveSession(token, user) {
  session.token = token;
  session.user = user;
  sessionStorage.setItem(TOKEN_KEY, token);
  sessionStorage.setItem(USER_KEY, user);
}

export function clearSession() {
  session.token = null;
  session.user = null;
  sessionStorage.removeItem(TOKEN_KEY);
  sessionStorage.removeItem(USER_KEY);
}

export class ApiError extends Error {
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

export async function api(method, path, { json, form, auth = true } = {}) {
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
    if (response.status === 401 && auth) unauthorized(error);
    throw error;
  }
  if (text && data === null) throw new ApiError("The API answered with something that is not JSON.", "bad_response", response.status);
  return data;
}

// The token for these credentials; an ApiError with the API's reason when they are refused.
export async function login(username, password) {
  const answer = await api("POST", "/api/v1/login", { json: { username, password }, auth: false });
  return answer.access_token;
}

export function getJob(taskId) {
  return api("GET", `/api/v1/jobs/${encodeURIComponent(taskId)}`);
}

// S3 answers a refused upload with XML: <Error><Code>EntityTooLarge</Code><Message>...</Message></Error>.
export function storageError(status, text) {
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
