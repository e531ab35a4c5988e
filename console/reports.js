// Reports as charts, each with the table of its numbers under it: hires by quarter (per department, or per
// job of one department), departments above the mean (the mean drawn), and recent courses with filters.

import { call } from "./api.js";
import { barChart, PALETTE } from "./charts.js";
import { dataTable, field, h, number, replace, when } from "./dom.js";

const QUARTERS = ["q1", "q2", "q3", "q4"];

async function allRows(table) {
  const rows = [];
  let after;
  do {
    const page = await call(`tables/${encodeURIComponent(table)}/rows`, { query: { limit: 1000, after } });
    rows.push(...page.rows);
    after = page.next;
  } while (after !== null && after !== undefined && rows.length < 10000);
  return rows;
}

function chartBox(id) {
  return h("div", { class: "chart" }, h("canvas", { id }));
}

function hiresByQuarter() {
  const year = h("input", { type: "number", min: "1900", max: "2100", value: "2021", id: "hq-year", required: true });
  const department = h("select", { id: "hq-department" }, h("option", { value: "" }, "All departments (hires per department)"));
  const out = h("div", { id: "hq-out" });
  const form = h(
    "form",
    { class: "controls" },
    field("Year", year),
    field("Department", department, "Pick one to see its jobs"),
    h("button", { type: "submit" }, "Show"),
  );
  let report = null;

  function draw() {
    const chosen = department.value;
    const rows = chosen ? report.rows.filter((r) => r.department === chosen) : report.rows;
    const groups = new Map();
    for (const row of rows) {
      const label = chosen ? row.job : row.department;
      const sums = groups.get(label) || [0, 0, 0, 0];
      QUARTERS.forEach((q, i) => (sums[i] += row[q]));
      groups.set(label, sums);
    }
    const labels = [...groups.keys()];
    const datasets = QUARTERS.map((q, i) => ({ label: q.toUpperCase(), data: labels.map((l) => groups.get(l)[i]), backgroundColor: PALETTE[i] }));
    const total = rows.reduce((sum, r) => sum + QUARTERS.reduce((s, q) => s + r[q], 0), 0);
    replace(
      out,
      chartBox("hq-chart"),
      h("p", { id: "hq-total" }, `${number(total)} hires in ${report.year}${chosen ? ` in ${chosen}` : ""}, ${labels.length} ${chosen ? "jobs" : "departments"}.`),
      dataTable(`Hires per quarter of ${report.year}${chosen ? ` in ${chosen}` : ""}, by department and job`, ["Department", "Job", "Q1", "Q2", "Q3", "Q4"],
        rows.map((r) => [r.department, r.job, ...QUARTERS.map((q) => number(r[q]))]), { id: "hq-table" }),
    );
    barChart(out.querySelector("canvas"), {
      labels,
      datasets,
      title: `Hires per quarter in ${report.year}, ${chosen ? `per job of ${chosen}` : "per department"}`,
      yTitle: "hires",
    });
  }

  async function load() {
    report = await call("reports/hires-by-quarter", { query: { year: year.value } });
    const departments = [...new Set(report.rows.map((r) => r.department))];
    const keep = department.value;
    replace(department, h("option", { value: "" }, "All departments (hires per department)"), departments.map((d) => h("option", { value: d }, d)));
    department.value = departments.includes(keep) ? keep : "";
    draw();
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  department.addEventListener("change", () => report && draw());
  return { element: h("section", { "aria-labelledby": "h-hq" }, h("h3", { id: "h-hq" }, "Hires by quarter"), form, out), load };
}

function aboveMean() {
  const year = h("input", { type: "number", min: "1900", max: "2100", value: "2021", id: "am-year", required: true });
  const out = h("div", { id: "am-out" });
  const form = h("form", { class: "controls" }, field("Year", year), h("button", { type: "submit" }, "Show"));

  async function load() {
    // The mean the report compares with: every hire of the year over every department (the report's own rule).
    const [report, quarters, tables] = await Promise.all([
      call("reports/departments-above-mean", { query: { year: year.value } }),
      call("reports/hires-by-quarter", { query: { year: year.value } }),
      call("overview"),
    ]);
    const total = quarters.rows.reduce((sum, r) => sum + QUARTERS.reduce((s, q) => s + r[q], 0), 0);
    const departments = tables.tables.find((t) => t.name === "departments").rows;
    const mean = departments ? total / departments : 0;
    const labels = report.rows.map((r) => r.department);
    replace(
      out,
      chartBox("am-chart"),
      h("p", { id: "am-mean" }, `Mean of all ${number(departments)} departments in ${report.year}: ${mean.toFixed(1)} hires (${number(total)} hires in all).`),
      dataTable(`Departments that hired more than the mean in ${report.year}, most hires first`, ["Department", "Hires"],
        report.rows.map((r) => [r.department, number(r.hired)]), { id: "am-table" }),
    );
    barChart(out.querySelector("canvas"), {
      labels,
      datasets: [
        { label: "Hires", data: report.rows.map((r) => r.hired), backgroundColor: PALETTE[0], order: 2 },
        { type: "line", label: `Mean (${mean.toFixed(1)})`, data: labels.map(() => mean), borderColor: PALETTE[5], borderDash: [6, 4], pointRadius: 0, order: 1 },
      ],
      title: `Departments above the mean in ${report.year}`,
      yTitle: "hires",
    });
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  return { element: h("section", { "aria-labelledby": "h-am" }, h("h3", { id: "h-am" }, "Departments above the mean"), form, out), load };
}

function recentCourses() {
  const since = h("input", { type: "date", id: "rc-since" });
  const category = h("select", { id: "rc-category" }, h("option", { value: "" }, "Any category"));
  const level = h("select", { id: "rc-level" }, h("option", { value: "" }, "Any level"));
  const limit = h("input", { type: "number", min: "1", max: "1000", value: "10", id: "rc-limit", required: true });
  const out = h("div", { id: "rc-out" });
  const form = h(
    "form",
    { class: "controls" },
    field("Starting on or after", since),
    field("Category", category),
    field("Level", level),
    field("How many", limit),
    h("button", { type: "submit" }, "Show"),
  );

  async function load() {
    if (category.options.length === 1) {
      const [categories, levels] = await Promise.all([allRows("categories"), allRows("levels")]);
      category.append(...categories.map((c) => h("option", { value: c.category_name }, c.category_name)));
      level.append(...levels.map((l) => h("option", { value: l.level_name }, l.level_name)));
    }
    const report = await call("courses/recent", { query: { since: since.value, category: category.value, level: level.value, limit: limit.value } });
    replace(out, dataTable("Courses by newest start date", ["Course", "Name", "Category", "Level", "Starts"],
      report.rows.map((r) => [r.course_id, r.course_name, r.category, r.level, when(r.start_date)]), { id: "rc-table" }));
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  return { element: h("section", { "aria-labelledby": "h-rc" }, h("h3", { id: "h-rc" }, "Recent courses"), form, out), load };
}

let parts = null;

export default async function reports(body, { first }) {
  if (first) {
    parts = [hiresByQuarter(), aboveMean(), recentCourses()];
    replace(body, parts.map((p) => p.element));
  }
  await Promise.all(parts.map((p) => p.load()));
}
