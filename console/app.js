// The console: one page, a view per section, chosen by the address's #fragment (so links and Back work).

import { ApiError, call, keyGiven } from "./api.js";
import { byId, replace, status } from "./dom.js";
import backups from "./backups.js";
import entry from "./entry.js";
import overview from "./overview.js";
import rejections from "./rejections.js";
import reports from "./reports.js";
import upload from "./upload.js";

const VIEWS = { overview, reports, rejections, entry, upload, backups };
const shown = new Set();
let renders = 0;

// Any failure a view does not handle itself: one line, never a stack trace.
export function report(error) {
  const text = error instanceof ApiError ? `${error.message} (${error.code}, HTTP ${error.status})` : String(error.message || error);
  status(byId("notice"), text, "error");
}

async function show() {
  const name = VIEWS[location.hash.slice(1)] ? location.hash.slice(1) : "overview";
  replace(byId("notice"));
  for (const view of Object.keys(VIEWS)) {
    byId(`view-${view}`).hidden = view !== name;
    const link = document.querySelector(`nav a[href="#${view}"]`);
    if (view === name) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  document.title = `${byId(`h-${name}`).textContent} · rowgate console`;
  const body = byId(`${name}-body`);
  body.setAttribute("aria-busy", "true"); // until then it shows what the view held when last left
  try {
    await VIEWS[name](body, { first: !shown.has(name) });
    shown.add(name);
  } catch (error) {
    report(error);
  } finally {
    body.removeAttribute("aria-busy");
    document.body.dataset.renders = String(++renders);
  }
}

async function health() {
  const line = byId("health");
  try {
    const answer = await fetch(new URL("health", new URL("../../../", import.meta.url)));
    const body = await answer.json();
    status(line, `Health: ${body.status} · database ${body.database} · storage ${body.storage}`, body.status === "ok" ? "ok" : "error");
  } catch (error) {
    status(line, `Health: the host does not answer (${error.message})`, "error");
  }
}

byId("key-panel").addEventListener("submit", (event) => {
  event.preventDefault();
  keyGiven(byId("key-input").value.trim());
});
document.querySelector(".skip").addEventListener("click", (event) => {
  event.preventDefault(); // the #fragment chooses the view: skipping only moves the focus
  byId("main").focus();
});
window.addEventListener("hashchange", show);
window.addEventListener("unhandledrejection", (event) => report(event.reason));
health();
show();
call("tables").catch(report); // asks for the key at once when the host needs one
