// File upload: a CSV or Parquet file, dropped or chosen, sent in blocks (POST /api/uploads, a PUT per block,
// then commit), so no request carries the whole file and the function never holds it; the file appears in
// landing/ only once complete, and the page then watches the overview for its load.

import { call } from "./api.js";
import { field, h, number, replace, status } from "./dom.js";

const WATCH_MS = 120000;

function guessTable(name, tables) {
  const stem = name.replace(/\.[^.]*$/, "").toLowerCase();
  return tables.find((t) => stem === t || stem.startsWith(`${t}.`) || stem.startsWith(`${t}-`) || stem.startsWith(`${t}_`)) || "";
}

async function send(file, table, progress, out) {
  const started = await call("uploads", { method: "POST", query: { table, name: file.name } });
  const query = { table, name: file.name };
  const blocks = Math.ceil(file.size / started.block_bytes);
  progress.max = blocks;
  for (let index = 0; index < blocks; index++) {
    const part = file.slice(index * started.block_bytes, (index + 1) * started.block_bytes); // read from disk as it is sent
    status(out, `Sending block ${index + 1} of ${blocks}…`);
    await call(`uploads/${started.upload}/blocks/${index}`, { method: "PUT", query, bytes: part });
    progress.value = index + 1;
  }
  return call(`uploads/${started.upload}/commit`, { method: "POST", query, json: { blocks, bytes: file.size } });
}

async function watch(path, out) {
  const deadline = Date.now() + WATCH_MS;
  while (Date.now() < deadline) {
    const answer = await call("overview", { query: { loads: 20 } });
    for (const table of answer.tables) {
      const load = table.loads.find((l) => l.source === path && l.status === "done");
      if (load) {
        replace(
          out,
          h("p", { "data-kind": load.rejected ? "error" : "ok", id: "upload-loaded" }, `Loaded into ${table.name}: inserted ${number(load.inserted)}, unchanged ${number(load.unchanged)}, refused ${number(load.rejected)} of ${number(load.rows_read)} rows read.`),
          h("p", {}, h("a", { href: "#overview" }, "See it in the overview")),
        );
        return;
      }
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
  status(out, `Landed as ${path}; its load has not shown up within ${WATCH_MS / 1000} s. The overview shows it once the trigger has run.`, "error");
}

export default async function upload(body, { first }) {
  if (!first) return;
  const tables = (await call("tables")).tables.map((t) => t.name);
  const file = h("input", { type: "file", id: "upload-file", accept: ".csv,.parquet" });
  const table = h("select", { id: "upload-table" }, h("option", { value: "" }, "Choose the table…"), tables.map((t) => h("option", { value: t }, t)));
  const progress = h("progress", { id: "upload-progress", value: "0", max: "1", "aria-label": "Blocks sent" });
  const out = h("div", { id: "upload-result", role: "status" });
  const zone = h("div", { class: "drop", id: "upload-drop" }, h("p", {}, "Drop a .csv or .parquet file here, or choose one:"), field("File", file));
  const form = h("form", { id: "upload-form" }, zone, field("Table", table, "Guessed from the file's name; the file lands in landing/<table>/"), h("button", { type: "submit" }, "Upload"), progress);
  let chosen = null;
  function choose(picked) {
    chosen = picked;
    if (picked) {
      table.value = guessTable(picked.name, tables) || table.value;
      status(out, `${picked.name}: ${number(picked.size)} bytes.`);
    }
  }
  file.addEventListener("change", () => choose(file.files[0]));
  zone.addEventListener("dragover", (event) => {
    event.preventDefault();
    zone.dataset.over = "true";
  });
  zone.addEventListener("dragleave", () => delete zone.dataset.over);
  zone.addEventListener("drop", (event) => {
    event.preventDefault();
    delete zone.dataset.over;
    choose(event.dataTransfer.files[0]);
  });
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    if (!chosen) return status(out, "Choose a file first.", "error");
    if (!chosen.size) return status(out, `${chosen.name} is empty: there is nothing to load.`, "error");
    if (!table.value) return status(out, "Choose the table the file is for.", "error");
    progress.value = 0;
    const committed = await send(chosen, table.value, progress, out);
    status(out, `Landed as ${committed.path} (${number(committed.bytes)} bytes in ${committed.blocks} blocks); waiting for its load…`);
    await watch(committed.path, out);
  });
  replace(body, form, out);
}
