// The API beside this page: /api/ is three folders up from /api/console/assets/<version>/api.js.
// The function key, once given, is kept in sessionStorage (this tab only) and sent as x-functions-key.

import { byId } from "./dom.js";

export const API = new URL("../../../", import.meta.url);
const KEY = "rowgate.functionKey";

export class ApiError extends Error {
  constructor(status, code, message, body) {
    super(message);
    this.status = status;
    this.code = code;
    this.body = body;
  }
}

export function url(path, query = {}) {
  const target = new URL(path, API);
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined && value !== null && value !== "") target.searchParams.set(name, value);
  }
  return target;
}

function headers(extra) {
  const key = sessionStorage.getItem(KEY);
  return { ...(key ? { "x-functions-key": key } : {}), ...extra };
}

// One request; a 401 asks for the key (once per key) and tries again with it.
export async function call(path, { method = "GET", query, json, bytes, target } = {}) {
  const init = { method, headers: headers(), credentials: "same-origin" };
  if (json !== undefined) {
    init.body = JSON.stringify(json);
    init.headers["content-type"] = "application/json";
  } else if (bytes !== undefined) {
    init.body = bytes;
    init.headers["content-type"] = "application/octet-stream";
  }
  const response = await fetch(target || url(path, query), init);
  if (response.status === 401) {
    await askForKey(sessionStorage.getItem(KEY) ? "That key was refused; enter the right one." : "");
    return call(path, { method, query, json, bytes, target });
  }
  const text = await response.text();
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = { error: { code: "not-json", message: text.slice(0, 200) } };
  }
  if (!response.ok && response.status !== 202) {
    const error = (body && body.error) || {};
    throw new ApiError(response.status, error.code || String(response.status), error.message || response.statusText, body);
  }
  return body;
}

// Durable's 202: follow its status URL until the orchestration ends; its output (an {error} output is thrown).
export async function finished(started, onWait) {
  const target = new URL(started.statusQueryGetUri);
  for (;;) {
    const state = await call("", { target });
    if (["Completed", "Failed", "Terminated"].includes(state.runtimeStatus)) {
      if (state.runtimeStatus !== "Completed") throw new ApiError(500, state.runtimeStatus, `the job ${state.runtimeStatus.toLowerCase()}: ${state.output}`);
      const output = state.output;
      if (output && output.error) throw new ApiError(output.error.status || 400, output.error.code, output.error.message, output);
      return output;
    }
    if (onWait) onWait(state);
    await new Promise((resolve) => setTimeout(resolve, 400));
  }
}

let pending = null;

// The key form: shown when a call is refused for want of a key; every waiting call goes on once it is given.
export function askForKey(reason) {
  if (pending) return pending.promise;
  const panel = byId("key-panel");
  const input = byId("key-input");
  byId("key-reason").textContent = reason || "This host needs a function key (the API's own). It is kept for this tab only.";
  panel.hidden = false;
  input.value = "";
  input.focus();
  let resolve;
  const promise = new Promise((r) => (resolve = r));
  pending = { promise, resolve };
  return promise;
}

export function keyGiven(key) {
  sessionStorage.setItem(KEY, key);
  byId("key-panel").hidden = true;
  if (pending) {
    const { resolve } = pending;
    pending = null;
    resolve();
  }
}

export function forgetKey() {
  sessionStorage.removeItem(KEY);
}
