// Overview: each table with its rows, open rejections, backups and last loads, from GET /api/overview.

import { call } from "./api.js";
import { byId, dataTable, h, number, replace, stampTime, when } from "./dom.js";

const EVERY_MS = 5000;
let timer = null;

const STATUS = { done: "✓ done", loading: "… loading" };

function rows(table) {
  return table.rows_exact ? number(table.rows) : h("span", { title: "the database catalog's estimate" }, `≈ ${number(table.rows)} (estimate)`);
}

function lastLoad(load) {
  if (!load) return "none yet";
  return [
    h("span", { class: "source" }, `${load.kind} ${load.source}`),
    h("br"),
    `${when(load.started_at)} · on arrival: inserted ${number(load.inserted)}, unchanged ${number(load.unchanged)}, refused ${number(load.rejected)} · ${STATUS[load.status] || load.status}`,
    h("br"),
    `${number(load.open_rejections)} of its rows still refused now`,
  ];
}

function loadCells(load) {
  return [
    load.kind,
    h("span", { class: "source" }, load.source),
    when(load.started_at),
    number(load.inserted),
    number(load.unchanged),
    number(load.rejected),
    number(load.open_rejections),
    STATUS[load.status] || load.status,
  ];
}

export async function render(body) {
  const answer = await call("overview");
  const summary = dataTable(
    "Tables, parents first",
    ["Table", "Rows", "Open rejections", "Backups", "Last backup", "Last load"],
    answer.tables.map((t) => [
      h("a", { href: "#rejections", dataset: { table: t.name } }, t.name),
      rows(t),
      number(t.open_rejections),
      number(t.backups),
      t.last_backup ? stampTime(t.last_backup) : "none",
      lastLoad(t.loads[0]),
    ]),
    { id: "overview-tables" },
  );
  const loads = answer.tables.map((t) =>
    h(
      "details",
      { class: "loads", dataset: { table: t.name } },
      h("summary", {}, `${t.name}: last ${t.loads.length} loads`),
      t.loads.length
        ? dataTable(`Last loads of ${t.name}, newest first`, ["Kind", "Source", "Started", "Inserted", "Unchanged", "Refused on arrival", "Still refused", "Status"], t.loads.map(loadCells))
        : h("p", {}, "No load yet."),
    ),
  );
  const open = new Set([...body.querySelectorAll("details[open]")].map((d) => d.dataset.table));
  for (const details of loads) details.open = open.has(details.dataset.table); // a refresh keeps what the reader opened
  replace(body, summary, h("h3", {}, "Last loads"), loads);
  for (const link of body.querySelectorAll("a[data-table]")) {
    link.addEventListener("click", () => sessionStorage.setItem("rowgate.rejections.table", link.dataset.table));
  }
  replace(byId("overview-updated"), `Updated ${new Date().toLocaleTimeString()}; refreshed every ${EVERY_MS / 1000} s while shown.`);
  return answer;
}

export default async function overview(body, { first }) {
  if (first) byId("overview-refresh").addEventListener("click", () => render(body));
  await render(body);
  clearInterval(timer);
  timer = setInterval(() => {
    if (byId("view-overview").hidden) clearInterval(timer);
    else render(body).catch(() => {});
  }, EVERY_MS);
}
