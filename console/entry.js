// Data entry: a form per table generated from the dictionary (GET /api/tables: keys and foreign keys) and from
// the JSON Schema of its row (GET /api/openapi.json), checked in the browser, decided by the server (a
// refusal shows its reasons); and a batch of up to 1,000 rows pasted or read from a CSV or JSON file.

import { call } from "./api.js";
import { dataTable, field, h, number, replace, status } from "./dom.js";
import { fieldSchema, problems, typed } from "./schema.js";

const MAX_ROWS = 1000;
const PICK_LIST = 1000; // a parent with more rows gets a text field with suggestions instead of a pick list
let model = null;

async function loadModel() {
  const [tables, document] = await Promise.all([call("tables"), call("openapi.json")]);
  return { tables: tables.tables, schemas: document.components.schemas };
}

async function parentOptions(parent, key) {
  const page = await call(`tables/${encodeURIComponent(parent.name)}/rows`, { query: { limit: PICK_LIST } });
  const label = parent.fields.find((f) => f.type === "string" && f.name !== key);
  return { complete: page.next === null, options: page.rows.map((r) => [String(r[key]), label ? `${r[key]} · ${r[label.name]}` : String(r[key])]) };
}

function describe(name, schema, required) {
  const plain = fieldSchema(schema);
  const kinds = [].concat(plain.type || "string").filter((t) => t !== "null");
  const bits = [kinds.includes("integer") ? "a whole number" : kinds.includes("number") ? "a number" : kinds.includes("boolean") ? "true or false" : "text"];
  if (plain.format === "date-time") bits.push("an ISO 8601 time, e.g. 2021-07-27T16:02:08Z");
  if (plain.format === "date") bits.push("a date");
  if (plain.maxLength) bits.push(`at most ${plain.maxLength} characters`);
  bits.push(required ? "required" : "optional");
  return bits.join(", ");
}

async function control(table, name, schema) {
  const plain = fieldSchema(schema);
  const id = `entry-${table.name}-${name}`;
  const fk = table.foreignKeys.find((k) => k.fields.length === 1 && k.fields[0] === name);
  if (fk) {
    const parent = model.tables.find((t) => t.name === fk.parent);
    const { complete, options } = await parentOptions(parent, fk.parentFields[0]);
    if (complete) {
      return h("select", { id, name }, h("option", { value: "" }, `Choose a ${parent.name} row…`), options.map(([value, text]) => h("option", { value }, text)));
    }
    const list = `${id}-list`;
    return [h("input", { id, name, list, autocomplete: "off" }), h("datalist", { id: list }, options.map(([value, text]) => h("option", { value }, text)))];
  }
  if (plain.enum) return h("select", { id, name }, h("option", { value: "" }, "Choose…"), plain.enum.map((v) => h("option", { value: String(v) }, String(v))));
  if ([].concat(plain.type).includes("boolean")) {
    return h("select", { id, name }, h("option", { value: "" }, "Choose…"), h("option", { value: "true" }, "true"), h("option", { value: "false" }, "false"));
  }
  if (plain.format === "date") return h("input", { id, name, type: "date" });
  const numeric = [].concat(plain.type).some((t) => t === "integer" || t === "number");
  return h("input", { id, name, type: "text", inputmode: numeric ? "numeric" : undefined, placeholder: plain.format === "date-time" ? "2021-07-27T16:02:08Z" : undefined });
}

function showProblems(form, found) {
  for (const message of form.querySelectorAll(".problem")) message.remove();
  for (const input of form.querySelectorAll("[aria-invalid]")) input.removeAttribute("aria-invalid");
  for (const [name, messages] of Object.entries(found)) {
    const input = form.elements[name];
    const text = `${name} ${messages.join("; ")}`;
    const note = h("span", { class: "problem", id: `${input ? input.id : "row"}-problem` }, `⚠ ${text}`);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      input.setAttribute("aria-describedby", `${input.id}-hint ${note.id}`);
      input.closest(".field").append(note);
    } else form.prepend(note);
  }
  const first = Object.keys(found).map((n) => form.elements[n]).find(Boolean);
  if (first) first.focus();
}

function refusals(rejections) {
  const rows = rejections.flatMap((r) => (r.errors || []).map((e) => [number((r.row_number ?? r.index + 1) || 1), e.field || "(row)", e.code, e.message]));
  return dataTable("Refused rows and their reasons", ["Row", "Field", "Code", "Reason"], rows, { class: "refusals" });
}

function outcome(result) {
  return `received ${number(result.received)}: inserted ${number(result.inserted)}, unchanged ${number(result.unchanged)}, refused ${number(result.rejected)}`;
}

async function rowForm(table, out) {
  const schema = model.schemas[`Row_${table.name}`];
  const required = new Set(schema.required || []);
  const fields = [];
  for (const [name, property] of Object.entries(schema.properties)) {
    const made = [].concat(await control(table, name, property));
    fields.push(field(`${name}${required.has(name) ? " (required)" : ""}`, made[0], describe(name, property, required.has(name))));
    if (made[1]) fields.at(-1).append(made[1]);
  }
  const form = h("form", { id: "entry-form", novalidate: true }, fields, h("button", { type: "submit" }, `Insert into ${table.name}`));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const row = {};
    for (const name of Object.keys(schema.properties)) {
      const value = typed(form.elements[name].value, schema.properties[name]);
      if (value !== undefined) row[name] = value;
    }
    const found = problems(schema, row);
    showProblems(form, found);
    if (Object.keys(found).length) {
      status(out, `Not sent: ${Object.keys(found).length} field(s) to correct.`, "error");
      return;
    }
    status(out, "Sending…");
    const result = await call(`tables/${encodeURIComponent(table.name)}/rows`, { method: "POST", json: [row] });
    if (result.rejected) replace(out, h("p", { "data-kind": "error" }, `Refused by the server: ${outcome(result)}`), refusals(result.rejections));
    else status(out, result.inserted ? `Inserted into ${table.name}.` : `Already there with these values: unchanged.`, "ok");
  });
  return form;
}

// CSV with a header row of field names (RFC 4180 quoting), or a JSON array of objects.
export function parseRows(text) {
  const trimmed = text.trim();
  if (trimmed.startsWith("[")) return JSON.parse(trimmed);
  const records = [];
  let record = [];
  let cell = "";
  let quoted = false;
  for (let i = 0; i < trimmed.length; i++) {
    const c = trimmed[i];
    if (quoted) {
      if (c === '"' && trimmed[i + 1] === '"') (cell += '"'), i++;
      else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ",") record.push(cell), (cell = "");
    else if (c === "\n" || c === "\r") {
      if (c === "\r" && trimmed[i + 1] === "\n") i++;
      record.push(cell), records.push(record), (record = []), (cell = "");
    } else cell += c;
  }
  record.push(cell);
  records.push(record);
  const [header, ...rows] = records;
  return rows.map((cells) => Object.fromEntries(header.map((name, i) => [name.trim(), cells[i] ?? ""])));
}

function batchForm(table, out) {
  const schema = model.schemas[`Row_${table.name}`];
  const text = h("textarea", { id: "batch-text", rows: "8", spellcheck: "false" });
  const file = h("input", { type: "file", id: "batch-file", accept: ".csv,.json,text/csv,application/json" });
  const form = h(
    "form",
    { id: "batch-form" },
    field(`Rows for ${table.name}`, text, `CSV with a header row (${Object.keys(schema.properties).join(",")}), or a JSON array; up to ${MAX_ROWS} rows`),
    field("…or read them from a file", file),
    h("button", { type: "submit" }, "Send the batch"),
  );
  file.addEventListener("change", async () => {
    if (file.files[0]) text.value = await file.files[0].text();
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    let rows;
    try {
      rows = parseRows(text.value).map((r) => Object.fromEntries(Object.entries(r).map(([k, v]) => [k, schema.properties[k] && typeof v === "string" ? typed(v, schema.properties[k]) : v])));
    } catch (error) {
      status(out, `Not sent: the rows are not CSV or JSON (${error.message}).`, "error");
      return;
    }
    rows = rows.map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== undefined)));
    if (!rows.length || rows.length > MAX_ROWS) {
      status(out, `Not sent: ${number(rows.length)} rows; a batch has 1 to ${MAX_ROWS}.`, "error");
      return;
    }
    const wrong = rows.map((r, i) => [i + 1, problems(schema, r)]).filter(([, found]) => Object.keys(found).length);
    if (wrong.length) {
      const lines = wrong.flatMap(([n, found]) => Object.entries(found).map(([f, m]) => [number(n), f || "(row)", m.join("; ")]));
      replace(out, h("p", { "data-kind": "error" }, `Not sent: ${wrong.length} of ${rows.length} rows do not fit the table's schema.`), dataTable("Rows to correct", ["Row", "Field", "Problem"], lines.slice(0, 100)));
      return;
    }
    status(out, `Sending ${number(rows.length)} rows…`);
    const result = await call(`tables/${encodeURIComponent(table.name)}/rows`, { method: "POST", json: rows });
    replace(out, h("p", { "data-kind": result.rejected ? "error" : "ok" }, `Batch ${outcome(result)}`), result.rejected ? refusals(result.rejections) : null);
  });
  return form;
}

export default async function entry(body, { first }) {
  if (!first) return;
  model = await loadModel();
  const picker = h("select", { id: "entry-table" }, model.tables.map((t) => h("option", { value: t.name }, t.name)));
  const forms = h("div", { id: "entry-forms" });
  async function build() {
    const table = model.tables.find((t) => t.name === picker.value);
    const rowOut = h("div", { id: "entry-result", role: "status" });
    const batchOut = h("div", { id: "batch-result", role: "status" });
    replace(forms, h("h3", {}, `One row into ${table.name}`), await rowForm(table, rowOut), rowOut, h("h3", {}, `A batch into ${table.name}`), batchForm(table, batchOut), batchOut);
  }
  picker.addEventListener("change", build);
  replace(body, h("form", { class: "controls", id: "entry-picker" }, field("Table", picker)), forms);
  await build();
}
