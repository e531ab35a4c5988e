// Backups: the sets and the backups they hold, taking a backup of every table, and restoring one table or a
// whole set, each after a confirmation that says what will change.

import { call, finished } from "./api.js";
import { byId, dataTable, h, number, replace, stampTime, status } from "./dom.js";

let out = null;

function confirmRestore(title, lines) {
  const dialog = byId("restore-dialog") || document.body.appendChild(
    h("dialog", { id: "restore-dialog", "aria-labelledby": "restore-title" },
      h("form", { method: "dialog" },
        h("h3", { id: "restore-title" }),
        h("div", { id: "restore-what" }),
        h("p", { class: "toolbar" }, h("button", { value: "restore", id: "restore-confirm" }, "Restore"), " ", h("button", { value: "cancel", id: "restore-cancel" }, "Cancel")))),
  );
  replace(byId("restore-title"), title);
  replace(byId("restore-what"), lines.map((line) => h("p", {}, line)));
  dialog.returnValue = "";
  dialog.showModal();
  byId("restore-cancel").focus(); // the safe choice first
  return new Promise((resolve) => dialog.addEventListener("close", () => resolve(dialog.returnValue === "restore"), { once: true }));
}

function restored(results) {
  return dataTable("What the restore changed", ["Table", "Backup", "Rows in it", "Deleted", "Inserted", "Updated", "Loads undone"],
    results.map((r) => [r.table, r.backup, number(r.rows), number(r.deleted), number(r.inserted), number(r.updated), number(r.loads_undone)]), { id: "restore-result" });
}

async function run(started, waiting) {
  status(out, waiting);
  return finished(await started, () => status(out, `${waiting} (running)`));
}

async function restoreTable(backup, now) {
  const rowsNow = now.get(backup.table);
  const yes = await confirmRestore(`Restore ${backup.table}?`, [
    `${backup.table} gets exactly the rows of ${backup.name}, taken ${stampTime(backup.created)}: ${number(backup.rows)} rows. It has ${number(rowsNow)} rows now.`,
    "Rows added since are deleted, rows changed since are set back, rows deleted since come back; loads since then are undone in the ledger, so their files can be ingested again.",
    "All or nothing: if the restore would leave rows of another table without their parent, it is refused and nothing changes.",
  ]);
  if (!yes) return status(out, "Restore cancelled: nothing changed.");
  const output = await run(call(`tables/${encodeURIComponent(backup.table)}/restore`, { method: "POST", json: { backup: backup.name } }), `Restoring ${backup.table}…`);
  replace(out, h("p", { "data-kind": "ok" }, `Restored ${backup.table} from ${backup.name}.`), restored([output]));
}

async function restoreSet(set, backups, now) {
  const inSet = backups.filter((b) => b.created === set.at);
  const yes = await confirmRestore(`Restore every table from the set of ${stampTime(set.at)}?`, [
    ...inSet.map((b) => `${b.table}: ${number(now.get(b.table))} rows now → ${number(b.rows)} rows from ${b.name}.`),
    "Every table changes together, parents first, in one transaction: rows added since are deleted, changed rows set back, deleted rows come back, and later loads are undone in the ledger.",
  ]);
  if (!yes) return status(out, "Restore cancelled: nothing changed.");
  // "set": exactly the set confirmed above; if it is no longer complete the server refuses it (409) rather than take an older one
  const output = await run(call("backups/restore", { method: "POST", json: { set: set.at } }), `Restoring the set of ${stampTime(set.at)}…`);
  replace(out, h("p", { "data-kind": "ok" }, `Restored ${output.results.length} tables from the set of ${stampTime(set.at)}.`), restored(output.results));
}

async function render(body) {
  const [listing, overview] = await Promise.all([call("backups"), call("overview")]);
  const now = new Map(overview.tables.map((t) => [t.name, t.rows]));
  const take = h("button", { type: "button", id: "backup-take" }, "Back up every table now");
  take.addEventListener("click", async () => {
    const output = await run(call("backups", { method: "POST" }), "Backing up every table…");
    await render(body);
    status(out, `Backed up ${output.backups.length} tables as the set of ${stampTime(output.at)}${output.consistent ? "" : " (rows changed during it; not a consistent set)"}.`, "ok");
  });
  const sets = dataTable("Backup sets, newest first (one snapshot each)", ["Taken", "Complete", "Tables", "Missing or unreadable", ""],
    listing.sets.map((set) => {
      const button = set.complete ? h("button", { type: "button", class: "restore-set", dataset: { at: set.at } }, `Restore this set…`) : "";
      if (button) button.addEventListener("click", () => restoreSet(set, listing.backups, now));
      return [stampTime(set.at), set.complete ? "✓ yes" : "✗ no", set.tables.join(", "), [...set.missing, ...set.unreadable].join(", ") || "none", button];
    }), { id: "backup-sets" });
  const each = dataTable("Backups, newest first", ["Table", "Taken", "Rows", "Bytes", ""],
    listing.backups.map((b) => {
      const button = b.rows >= 0 ? h("button", { type: "button", class: "restore-table", dataset: { table: b.table, name: b.name } }, `Restore ${b.table}…`) : "unreadable";
      if (b.rows >= 0) button.addEventListener("click", () => restoreTable(b, now));
      return [b.table, stampTime(b.created), number(b.rows), number(b.size), button];
    }), { id: "backup-list" });
  replace(body, h("p", { class: "toolbar" }, take), out, sets, each);
}

export default async function backups(body) {
  out ||= h("div", { id: "backup-result", role: "status" });
  await render(body);
}
