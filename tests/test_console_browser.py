"""The web console in real Chromium (Debian's chromium, driven by Playwright) against a real `rowgate serve` process
holding the demo data (`rowgate generate`, dirty rows included): what the page shows equals what the API answers.

Each test saves a screenshot of its page under its tmp folder; with ROWGATE_UPDATE_SCREENSHOTS=1 the latest are
copied to docs/console/ for the README. Every test fails on a Content-Security-Policy violation or a page error.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shared.limits import UPLOAD_BLOCK_BYTES
from tests.conftest import ROOT, unavailable

CHROMIUM = "/usr/bin/chromium"
# Without these Chromium stalls on the blocked network (updates, sync, safe browsing).
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DOCS = ROOT / "docs" / "console"
KEY = "console-test-key"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Served:
    """`rowgate serve` in a process of its own, on SQLite and a local folder, with the demo data landed."""

    def __init__(self, folder: Path, function_key: str = ""):
        self.folder, self.port = folder, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **os.environ,
            "ROWGATE_DATABASE_URL": f"sqlite:///{folder / 'rowgate.db'}",
            "ROWGATE_STORAGE": str(folder / "storage"),
            "ROWGATE_FUNCTION_KEY": function_key,
        }
        self.headers = {"x-functions-key": function_key} if function_key else {}
        self.log = (folder / "serve.log").open("w")
        self.process = None

    def generate(self) -> None:
        landing = self.folder / "storage" / "landing"
        landing.mkdir(parents=True)
        for domain, rows in (("hr", 2000), ("courses", 300)):
            out = self.folder / domain
            self.rowgate("generate", domain, "--rows", str(rows), "--seed", "7", "--out", str(out))
            for file in out.iterdir():
                shutil.copy(file, landing / file.name)

    def rowgate(self, *arguments: str) -> None:
        subprocess.run(
            [sys.executable, "-m", "shared.cli", *arguments], env=self.env, cwd=self.folder, check=True, capture_output=True, timeout=120
        )

    def start(self) -> None:
        command = [sys.executable, "-m", "shared.cli", "serve", "--port", str(self.port), "--poll", "0.2"]
        self.process = subprocess.Popen(command, env=self.env, cwd=self.folder, stdout=self.log, stderr=subprocess.STDOUT)
        self.until(lambda: httpx.get(f"{self.url}/api/health").status_code == 200, "the host to answer")

    def until(self, check, what: str, timeout: float = 90):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if value := check():
                    return value
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        raise AssertionError(f"timed out waiting for {what}; log: {(self.folder / 'serve.log').read_text()[-2000:]}")

    def get(self, path: str, **params):
        answer = httpx.get(f"{self.url}/api/{path}", params=params, headers=self.headers, timeout=30)
        assert answer.status_code == 200, answer.text
        return answer.json()

    def ingested(self) -> bool:
        landing = self.folder / "storage" / "landing"
        done = all(t["loads"] and t["loads"][0]["status"] == "done" for t in self.get("overview")["tables"])
        return done and not [f for f in landing.rglob("*") if f.is_file()]

    def stop(self) -> None:
        if self.process:
            self.process.terminate()
            self.process.wait(timeout=20)
        self.log.close()


@pytest.fixture(scope="module")
def chromium():
    if not Path(CHROMIUM).exists():
        unavailable("Debian's chromium is not installed (scripts/setup.sh --for-tests installs it)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (requirements-dev.txt) drives Chromium")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    served = Served(tmp_path_factory.mktemp("console-demo"))
    served.generate()
    served.start()
    try:
        served.until(served.ingested, "the demo files to be ingested")
        yield served
    finally:
        served.stop()


@pytest.fixture
def page(chromium, request, tmp_path):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    problems = []
    opened.on("console", lambda m: problems.append(m.text) if m.type == "error" and "401" not in m.text else None)
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.set_default_timeout(30_000)
    opened.shots = tmp_path
    yield opened
    context.close()
    assert problems == [], f"the page logged errors (a CSP violation, a failed request, an exception): {problems}"


def shot(page, name: str) -> None:
    """The page as a person sees it: under the test's tmp folder, and the latest in docs/console/ when asked."""
    path = page.shots / f"{name}.png"
    page.evaluate("window.scrollTo(0, 0)")
    page.screenshot(path=str(path))  # the viewport: what a person sees first, and small enough for the README
    if os.environ.get("ROWGATE_UPDATE_SCREENSHOTS") == "1":
        DOCS.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS / path.name)


def open_view(page, served: Served, view: str) -> None:
    """Show a view and wait until it has rendered afresh: a view shown before still holds its old rows until then."""
    url = f"{served.url}/api/console#{view}"
    same_document = page.url.split("#")[0] == url.split("#")[0]
    before = page.evaluate("Number(document.body.dataset.renders || 0)") if same_document else 0
    if page.url == url:
        page.reload()  # the same #fragment again is no hashchange: nothing would render
        before = 0
    else:
        page.goto(url)
    page.wait_for_function(
        "([view, before]) => !document.getElementById(`view-${view}`).hidden && Number(document.body.dataset.renders || 0) > before",
        arg=[view, before],
    )


def cells(page, selector: str) -> list[list[str]]:
    return page.eval_on_selector_all(f"{selector} tbody tr", "rows => rows.map(r => [...r.cells].map(c => c.innerText.trim()))")


def number(text: str) -> int:
    return int(text.replace(",", ""))


def bars(page, canvas: str) -> int:
    return page.evaluate(
        """id => { const chart = Chart.getChart(document.getElementById(id));
           return chart.data.datasets.reduce((n, d, i) => n + ((d.type || 'bar') === 'bar' ? chart.getDatasetMeta(i).data.length : 0), 0); }""",
        canvas,
    )


def open_rejections(served: Served, table: str) -> int:
    total, after = 0, None
    while True:
        page = served.get("rejections", table=table, limit=1000, **({"after": after} if after else {}))
        total += len(page["rejections"])
        if not (after := page["next"]):
            return total


def test_the_overview_shows_the_counts_the_api_answers(demo, page):
    open_view(page, demo, "overview")
    page.wait_for_selector("#overview-tables tbody tr")
    shown = {row[0]: row for row in cells(page, "#overview-tables")}
    api = demo.get("overview")["tables"]
    assert list(shown) == [t["name"] for t in api]
    for table in api:
        row = shown[table["name"]]
        assert (number(row[1]), number(row[2]), number(row[3])) == (table["rows"], table["open_rejections"], table["backups"])
        assert table["open_rejections"] == open_rejections(demo, table["name"])
        assert table["rows"] == len(demo.get(f"tables/{table['name']}/rows", limit=1000)["rows"]) or table["rows"] > 1000
    assert shown["hired_employees"][2] != "0", "the demo's dirty rows are refused and counted"
    page.click("details[data-table='hired_employees'] summary")
    loads = cells(page, "details[data-table='hired_employees']")
    first = api[[t["name"] for t in api].index("hired_employees")]["loads"][0]
    assert loads[0][1] == first["source"] and number(loads[0][3]) == first["inserted"] and number(loads[0][5]) == first["rejected"]
    still = open_rejections(demo, "hired_employees")
    assert number(loads[0][6]) == first["open_rejections"] == still, "what is refused now, beside what was on arrival"
    shot(page, "overview")


def test_hires_by_quarter_draws_four_bars_per_department_then_per_job(demo, page):
    open_view(page, demo, "reports")
    page.wait_for_function("() => document.getElementById('hq-chart') && Chart.getChart(document.getElementById('hq-chart'))")
    report = demo.get("reports/hires-by-quarter", year=2021)["rows"]
    departments = sorted({r["department"] for r in report})
    assert bars(page, "hq-chart") == 4 * len(departments)
    table = cells(page, "#hq-table")
    assert [[r["department"], r["job"], *(str(r[q]) for q in ("q1", "q2", "q3", "q4"))] for r in report] == table
    q1 = page.evaluate("() => Chart.getChart(document.getElementById('hq-chart')).data.datasets[0].data")
    labels = page.evaluate("() => Chart.getChart(document.getElementById('hq-chart')).data.labels")
    assert q1 == [sum(r["q1"] for r in report if r["department"] == d) for d in labels]
    page.select_option("#hq-department", departments[0])
    jobs = [r for r in report if r["department"] == departments[0]]
    page.wait_for_function("n => Chart.getChart(document.getElementById('hq-chart')).data.labels.length === n", arg=len(jobs))
    assert bars(page, "hq-chart") == 4 * len(jobs)
    page.fill("#hq-year", "2022")
    page.select_option("#hq-department", "")
    page.click("#view-reports form:has(#hq-year) button")
    other = demo.get("reports/hires-by-quarter", year=2022)["rows"]
    page.wait_for_function("n => document.querySelectorAll('#hq-table tbody tr').length === n", arg=len(other))
    assert bars(page, "hq-chart") == 4 * len({r["department"] for r in other})
    shot(page, "reports")


def test_departments_above_the_mean_draw_a_bar_each_and_the_mean(demo, page):
    open_view(page, demo, "reports")
    page.wait_for_function("() => document.getElementById('am-chart') && Chart.getChart(document.getElementById('am-chart'))")
    above = demo.get("reports/departments-above-mean", year=2021)["rows"]
    hires = sum(r[q] for r in demo.get("reports/hires-by-quarter", year=2021)["rows"] for q in ("q1", "q2", "q3", "q4"))
    departments = len(demo.get("tables/departments/rows", limit=1000)["rows"])
    assert bars(page, "am-chart") == len(above) > 0
    mean = page.evaluate("() => Chart.getChart(document.getElementById('am-chart')).data.datasets[1].data[0]")
    assert mean == pytest.approx(hires / departments)
    assert all(r["hired"] > mean for r in above)
    assert cells(page, "#am-table") == [[r["department"], str(r["hired"])] for r in above]
    page.select_option("#rc-level", "Advanced")
    page.fill("#rc-limit", "25")
    page.click("#view-reports form:has(#rc-level) button")
    courses = demo.get("courses/recent", level="Advanced", limit=25)["rows"]
    page.wait_for_function("n => document.querySelectorAll('#rc-table tbody tr').length === n", arg=len(courses))
    assert [row[0] for row in cells(page, "#rc-table")] == [str(c["course_id"]) for c in courses]


def test_a_refused_row_fixed_in_place_is_loaded(demo, page):
    candidates = demo.get("rejections", table="hired_employees", code="type-error", limit=200)["rejections"]
    rejection = next(r for r in candidates if [e["field"] for e in r["errors"]] == ["datetime"])
    open_view(page, demo, "rejections")
    page.select_option("#rj-table", "hired_employees")
    page.select_option("#rj-code", "type-error")
    # The view's first list may hold this card too and is replaced when the filtered one arrives: a fix typed
    # into the first list's card would be lost with it (seen once in CI). Wait for the filtered answer first.
    with page.expect_response(lambda response: "/api/rejections" in response.url and "code=type-error" in response.url):
        page.click("#rj-filters button")
    card = page.locator(f"form.rejection[data-id='{rejection['id']}']")
    card.wait_for()
    assert rejection["raw"]["datetime"] in card.inner_text() and "type-error" in card.inner_text()
    card.locator(f"#fix-{rejection['id']}-datetime").fill("2021-05-05T10:00:00Z")
    shot(page, "rejections")
    card.locator("button", has_text="Re-validate and load").click()
    card.locator(".fix-result", has_text="Loaded into hired_employees").wait_for()
    after = demo.get(f"rejections/{rejection['id']}")
    assert after["resolved_at"] and after["resolution"] == "fixed"
    row = demo.get("tables/hired_employees/rows", after=int(rejection["raw"]["id"]) - 1, limit=1)["rows"][0]
    assert (row["id"], row["datetime"]) == (int(rejection["raw"]["id"]), "2021-05-05T10:00:00Z")
    open_before = open_rejections(demo, "hired_employees")
    page.click("#rj-redrive")
    page.locator("#rj-result", has_text="Re-drive of hired_employees").wait_for()
    assert open_rejections(demo, "hired_employees") <= open_before


def test_a_row_entered_through_the_form_is_inserted_and_a_refusal_shows_its_reasons(demo, page):
    sent = []
    page.on("request", lambda r: sent.append(r.url) if r.method == "POST" and "/rows" in r.url else None)
    open_view(page, demo, "entry")
    page.wait_for_selector("#entry-form")
    page.fill("#entry-departments-id", "9001")
    page.fill("#entry-departments-department", "Console")
    page.click("#entry-form button[type=submit]")
    page.locator("#entry-result", has_text="Inserted into departments").wait_for()
    assert demo.get("tables/departments/rows", after=9000, limit=1)["rows"] == [{"id": 9001, "department": "Console"}]
    page.fill("#entry-departments-id", "9002")
    page.fill("#entry-departments-department", "")
    page.click("#entry-form button[type=submit]")
    page.locator("#entry-result", has_text="Not sent").wait_for()
    assert page.get_attribute("#entry-departments-department", "aria-invalid") == "true"
    assert "department is required" in page.inner_text("#entry-form")
    assert len(sent) == 1, "the browser refused the row without asking the server"
    page.fill("#entry-departments-id", "12abc")
    page.fill("#entry-departments-department", "Bad key")
    page.click("#entry-form button[type=submit]")
    page.locator("#entry-result", has_text="Refused by the server").wait_for()
    reasons = cells(page, "#entry-result .refusals")
    assert reasons and reasons[0][1:3] == ["id", "type-error"]
    shot(page, "entry")
    page.select_option("#entry-table", "hired_employees")
    page.wait_for_selector("#entry-hired_employees-department_id")
    options = page.eval_on_selector_all("#entry-hired_employees-department_id option", "o => o.length")
    assert options == len(demo.get("tables/departments/rows", limit=1000)["rows"]) + 1, "a pick list of every parent row"


def test_a_pasted_batch_is_sent_and_its_refusals_listed(demo, page):
    open_view(page, demo, "entry")
    page.wait_for_selector("#batch-text")
    page.fill("#batch-text", 'id,department\n9101,Alpha\n9102,"Beta, with a comma"\n9103,"Gamma ""quoted"""\n')
    page.click("#batch-form button[type=submit]")
    page.locator("#batch-result", has_text="inserted 3").wait_for()
    rows = demo.get("tables/departments/rows", after=9100, limit=3)["rows"]
    assert [r["department"] for r in rows] == ["Alpha", "Beta, with a comma", 'Gamma "quoted"']
    page.fill("#batch-text", '[{"id": 9104, "department": "Delta"}, {"id": 9101, "department": "Not Alpha"}]')
    page.click("#batch-form button[type=submit]")
    page.locator("#batch-result", has_text="refused 1").wait_for()
    assert cells(page, "#batch-result .refusals")[0][:3] == ["2", "(row)", "primary-key"]
    page.fill("#batch-text", "id,department\n" + "".join(f"{i},x\n" for i in range(1001)))
    page.click("#batch-form button[type=submit]")
    page.locator("#batch-result", has_text="a batch has 1 to 1000").wait_for()


def test_a_file_bigger_than_a_block_uploaded_through_the_page_is_loaded(demo, page, tmp_path):
    big = tmp_path / "jobs_more.csv"
    big.write_bytes(b"".join(b"%d,Job %d\n" % (i, i) for i in range(10_000, 400_000)))
    assert big.stat().st_size > UPLOAD_BLOCK_BYTES
    blocks = []
    page.on("request", lambda r: blocks.append(len(r.post_data_buffer or b"")) if r.method == "PUT" else None)
    open_view(page, demo, "upload")
    page.set_input_files("#upload-file", str(big))
    assert page.input_value("#upload-table") == "jobs", "the table is guessed from the file's name"
    page.click("#upload-form button[type=submit]")
    page.locator("#upload-loaded").wait_for(timeout=120_000)
    assert "inserted 390,000" in page.inner_text("#upload-loaded")
    assert len(blocks) == -(-big.stat().st_size // UPLOAD_BLOCK_BYTES) and max(blocks) <= UPLOAD_BLOCK_BYTES
    shot(page, "upload")
    open_view(page, demo, "overview")
    page.click("details[data-table='jobs'] summary")
    assert "jobs_more" in cells(page, "details[data-table='jobs']")[0][1]


def test_a_restore_asks_first_and_says_what_will_change(demo, page):
    open_view(page, demo, "backups")
    page.click("#backup-take")
    page.locator("#backup-result", has_text="Backed up 6 tables").wait_for(timeout=60_000)
    page.wait_for_selector("#backup-list tbody tr")
    added = httpx.post(f"{demo.url}/api/tables/departments/rows", json=[{"id": 9500, "department": "After the backup"}], timeout=30)
    assert added.json()["inserted"] == 1
    rows_now = len(demo.get("tables/departments/rows", limit=1000)["rows"])
    open_view(page, demo, "overview")
    open_view(page, demo, "backups")
    newest = demo.get("backups", table="departments")["backups"][0]
    button = page.locator(f"button.restore-table[data-name='{newest['name']}']")
    button.click()
    dialog = page.locator("#restore-dialog")
    dialog.wait_for()
    text = dialog.inner_text()
    assert f"{newest['rows']} rows" in text and f"It has {rows_now} rows now" in text and "Rows added since are deleted" in text
    shot(page, "backups")
    page.keyboard.press("Escape")
    page.locator("#backup-result", has_text="nothing changed").wait_for()
    assert demo.get("tables/departments/rows", after=9499, limit=1)["rows"], "cancelled: the row is still there"
    button.click()
    page.click("#restore-confirm")
    page.locator("#backup-result", has_text="Restored departments").wait_for(timeout=60_000)
    assert [r["id"] for r in demo.get("tables/departments/rows", after=9499, limit=1)["rows"]] != [9500]
    restored = cells(page, "#restore-result")
    assert restored[0][0] == "departments" and number(restored[0][3]) == 1, "one row deleted"
    assert (
        httpx.post(f"{demo.url}/api/tables/jobs/rows", json=[{"id": 9600, "job": "After the backup"}], timeout=30).json()["inserted"] == 1
    )
    page.click("button.restore-set")
    dialog.wait_for()
    assert dialog.inner_text().count("rows now →") == 6, "each table: its rows now and the backup's"
    page.click("#restore-confirm")
    page.locator("#backup-result", has_text="Restored 6 tables").wait_for(timeout=60_000)
    assert [r["id"] for r in demo.get("tables/jobs/rows", after=9599, limit=1)["rows"]] != [9600], "the set put jobs back too"


def test_every_view_is_labelled_and_reachable_by_keyboard(demo, page):
    open_view(page, demo, "overview")
    for _ in range(12):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.getAttribute('href')") == "#reports":
            break
    page.keyboard.press("Enter")
    page.wait_for_selector("#view-reports:not([hidden])")
    assert page.get_attribute("nav a[href='#reports']", "aria-current") == "page"
    for view in ("overview", "reports", "rejections", "entry", "upload", "backups"):
        open_view(page, demo, view)
        page.wait_for_load_state("networkidle")
        unlabelled = page.evaluate(
            """() => [...document.querySelectorAll('input, select, textarea, button')]
                 .filter(e => e.offsetParent !== null)
                 .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label') && !e.textContent.trim())
                 .map(e => e.outerHTML.slice(0, 80))"""
        )
        assert unlabelled == [], view


def test_with_a_function_key_the_page_asks_for_it_once_and_works(chromium, tmp_path):
    served = Served(tmp_path, function_key=KEY)
    served.generate()
    served.start()
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.shots = tmp_path
    try:
        served.until(served.ingested, "the demo files to be ingested")
        page.goto(f"{served.url}/api/console#overview")
        page.wait_for_selector("#key-panel:not([hidden])")
        page.fill("#key-input", "wrong")
        page.keyboard.press("Enter")
        page.locator("#key-reason", has_text="That key was refused").wait_for()
        shot(page, "key")
        page.fill("#key-input", KEY)
        page.click("#key-panel button")
        page.wait_for_selector("#overview-tables tbody tr")
        assert page.is_hidden("#key-panel")
        assert page.evaluate("() => sessionStorage.getItem('rowgate.functionKey')") == KEY
        page.reload()
        page.wait_for_selector("#overview-tables tbody tr")
        assert page.is_hidden("#key-panel"), "asked once per tab"
        assert KEY not in page.content()
    finally:
        context.close()
        served.stop()
