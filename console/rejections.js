// Rejections: browse and filter the refused rows (table, source, code, open or resolved), see each row's
// original cells beside its reasons, fix cells in place and re-validate (PATCH /api/rejections/{id}: loaded
// at once if it passes), and re-drive every open row of a table (POST /api/rejections/replay).

import { call, finished } from "./api.js";
import { dataTable, field, h, number, replace, status, when } from "./dom.js";
import { typed } from "./schema.js";

const CODES = ["blank-row", "extra-cell", "missing-cell", "type-error", "constraint-error", "primary-key", "foreign-key", "encoding-error", "source-error"];
const PAGE = 20;
let model = null;

function cellText(value) {
  if (value === null || value === undefined) return h("em", {}, "(empty)");
  return typeof value === "string" ? value : JSON.stringify(value);
}

function card(rejection) {
  const fields = model.fields[rejection.table] || [];
  const reasons = (name) => rejection.errors.filter((e) => e.field === name).map((e) => `${e.code}: ${e.message}`).join("; ");
  const names = [...new Set([...fields.map((f) => f.name), ...Object.keys(rejection.raw || {})])];
  const inputs = {};
  const rows = names.map((name) => {
    const input = h("input", { id: `fix-${rejection.id}-${name}`, value: rejection.raw?.[name] ?? "", "aria-label": `${name} of rejection ${rejection.id}` });
    if (fields.some((f) => f.name === name)) inputs[name] = input;
    const reason = reasons(name);
    return [name, cellText(rejection.raw?.[name]), reason ? h("span", { class: "problem" }, `⚠ ${reason}`) : "", rejection.resolved_at || !inputs[name] ? "" : input];
  });
  const general = rejection.errors.filter((e) => !e.field || !names.includes(e.field));
  const result = h("div", { class: "fix-result", role: "status" });
  const fix = h("button", { type: "submit" }, "Re-validate and load");
  const form = h(
    "form",
    { class: "rejection", dataset: { id: rejection.id }, "aria-labelledby": `rejection-${rejection.id}` },
    h("h4", { id: `rejection-${rejection.id}` }, `#${rejection.id} · ${rejection.table} · ${rejection.source} row ${rejection.row_number ?? "?"}`),
    h("p", { class: "meta" }, `Refused ${when(rejection.created_at)}`, rejection.resolved_at ? ` · resolved ${when(rejection.resolved_at)} (${rejection.resolution || "resolved"})` : " · open", rejection.retryable ? " · waits for a parent key" : ""),
    general.length ? h("ul", { class: "problem" }, general.map((e) => h("li", {}, `⚠ ${e.code}: ${e.message}`))) : null,
    dataTable(`Cells of rejection ${rejection.id} and why they were refused`, ["Field", "Original cell", "Reason", rejection.resolved_at ? "" : "Corrected value"], rows),
    rejection.resolved_at ? null : fix,
    result,
  );
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const schema = model.schemas[`Row_${rejection.table}`];
    const values = Object.fromEntries(Object.entries(inputs).map(([name, input]) => [name, schema?.properties?.[name] ? typed(input.value, schema.properties[name]) ?? null : input.value]));
    status(result, "Re-validating…");
    const answer = await call(`rejections/${rejection.id}`, { method: "PATCH", json: { values } });
    if (answer.status === "refused") {
      replace(result, h("p", { "data-kind": "error" }, "Still refused:"), h("ul", {}, answer.errors.map((e) => h("li", {}, `${e.field || "(row)"} ${e.code}: ${e.message}`))));
    } else {
      status(result, answer.status === "loaded" ? `Loaded into ${rejection.table}; the rejection is resolved.` : `Already there with these values: unchanged; the rejection is resolved.`, "ok");
      fix.remove();
      for (const input of Object.values(inputs)) input.disabled = true;
    }
  });
  return form;
}

export default async function rejections(body, { first }) {
  if (first) {
    const [tables, document] = await Promise.all([call("tables"), call("openapi.json")]);
    model = { tables: tables.tables.map((t) => t.name), fields: Object.fromEntries(tables.tables.map((t) => [t.name, t.fields])), schemas: document.components.schemas };
  }
  const table = h("select", { id: "rj-table" }, h("option", { value: "" }, "Every table"), model.tables.map((t) => h("option", { value: t }, t)));
  const source = h("input", { id: "rj-source", placeholder: "landing/jobs.csv or api:<request>" });
  const code = h("select", { id: "rj-code" }, h("option", { value: "" }, "Any reason"), CODES.map((c) => h("option", { value: c }, c)));
  const state = h("select", { id: "rj-status" }, ["open", "resolved", "all"].map((s) => h("option", { value: s }, s)));
  const redrive = h("button", { type: "button", id: "rj-redrive", disabled: true }, "Re-drive every open row of the table");
  const list = h("div", { id: "rj-list" });
  const out = h("div", { id: "rj-result", role: "status" });
  const more = h("button", { type: "button", id: "rj-more", hidden: true }, "Next page");
  const form = h("form", { class: "controls", id: "rj-filters" }, field("Table", table), field("Source", source), field("Reason", code), field("Status", state), h("button", { type: "submit" }, "Show"));
  let next = null;

  const remembered = sessionStorage.getItem("rowgate.rejections.table");
  if (remembered && model.tables.includes(remembered)) table.value = remembered;
  sessionStorage.removeItem("rowgate.rejections.table");

  async function load(after) {
    const answer = await call("rejections", { query: { table: table.value, source: source.value, code: code.value, status: state.value, limit: PAGE, after } });
    if (!after) replace(list);
    if (!after && !answer.rejections.length) replace(list, h("p", {}, "No rejections match."));
    list.append(...answer.rejections.map(card));
    next = answer.next;
    more.hidden = next === null || next === undefined;
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  table.addEventListener("change", () => (redrive.disabled = !table.value));
  redrive.disabled = !table.value;
  more.addEventListener("click", () => load(next));
  redrive.addEventListener("click", async () => {
    status(out, `Re-driving the open rows of ${table.value}…`);
    const output = await finished(await call("rejections/replay", { method: "POST", query: { table: table.value } }));
    const results = output.results || [];
    const sum = (key) => results.reduce((s, r) => s + (r[key] || 0), 0);
    const shape = sum("need_a_fix") ? `; ${number(sum("need_a_fix"))} refused for their shape need a fix first` : "";
    status(out, `Re-drive of ${table.value}: ${number(sum("replayed"))} rows tried, ${number(sum("resolved"))} loaded, ${number(sum("still_refused"))} still refused${shape}.`, "ok");
    await load();
  });
  replace(body, form, h("p", { class: "toolbar" }, redrive), out, list, more);
  await load();
}
