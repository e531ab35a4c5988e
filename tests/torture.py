"""Torture harness: real ingest processes and real HTTP clients at once, killed and stalled, then counted.

What runs (tests/test_torture.py, once per SQL backend):
- N ingest slots, each running `rowgate migrate landing/` again and again (a real CLI process each time)
  over the same landing folder, so the same file is often taken by several runs at once;
- one dev host (`rowgate serve` on the same storage: its landing watcher takes files too, as the blob
  trigger would, beside the ingest runs) and M client threads
  posting batches over real HTTP, each batch with its own x-request-id, retried with the same id on a
  dropped connection, a timeout or a 5xx (so a retried batch is a replay, as a real client's would be);
- a chaos thread that, until the chaos deadline, picks a random live process (ingest run or host) and
  SIGKILLs it, or SIGSTOPs it for longer than the lease and SIGCONTs it; a killed host is restarted;
- files landing later at the same paths as earlier files once those have left landing/ (waves), and
  with a longer budget, rounds of new files landing during the chaos (one round per 30 s).
Then everything is restarted until done (landing empty, every batch answered), `rowgate replay` runs
once (the operator's re-drive of rows refused for a missing parent: a re-drive lost in a race is
recovered there, and the number it resolved is reported), and the end state is checked.

The inputs (seeded: ROWGATE_TORTURE_SEED replays them and the chaos schedule; the interleaving itself
is the machine's): departments, jobs and hired_employees over small key spaces, so keys overlap across
files and batches. Each key has one value, or (about 1 in 6) two conflicting versions. Every file and
every batch holds a distinct content (the ledger is keyed by content; the same content under two names
is one load), and every file holds at least one bad row tagged with the file's name (empty required
cell, non-integer id, bad datetime), so every file has rejections and its rejected-rows file can be
told apart from every other by content. Some hires name a department or job that never exists.

Why the end state is computable: a bad row is refused whatever the order. For a key with one version,
every occurrence is either inserted (the first) or unchanged (the others), whatever the order, and a
hire is in its table exactly when its parents exist (parents exist whatever the order, and the final
replay re-drives hires refused before their parent came). For a key with conflicting versions the order
decides which version wins (or none: a version refused for a missing parent may come first), so the
check there is: the key holds one of its versions or is absent, and every row not in the table is
refused (check 1). A clean sequential run of the same inputs (files in dependency order, then batches,
then replay, on a fresh SQLite) gives the reference for the non-conflicting keys, compared as sets.

Stalls: the processes get ROWGATE_LEASE_SECONDS (3 unless set), a SIGSTOP lasts 1.5 s longer. A 503
or 429 with Retry-After is retried, not counted as a failure. Not covered here: restores racing
loads, Blob Storage (Azurite), the dev host's own blob trigger, Parquet files.

What is checked, exactly (each failure names the invariant, a count, a few examples, and the seed):
1. each input row (source, row number, cells) ends exactly once: its values are in its table, or it
   has one open rejection; never both, never neither; rows repeated identically under one source (the
   later waves reuse earlier paths) are counted together;
2. no duplicate rejection: a (source, row, cells) is logged no more often than it occurs;
3. every file and every batch has exactly one ledger row, `done`, with inserted + unchanged + rejected
   equal to its rows; no ledger row is left `loading`;
4. table content equals the clean run's for the non-conflicting keys; conflicting keys as above;
5. landing/ ends empty; every landed file is in archive/ exactly once (matched by content); every
   landed file has exactly one rejected-rows file whose rows are rows of that file and whose count is
   its ledger's rejected; nothing else in rejected/;
6. no traceback in any process's stderr, no ingest run that crashed (exit 1), no HTTP 5xx, every batch
   answered 200.
"""

from __future__ import annotations

import collections
import contextlib
import csv
import io
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

import httpx
import sqlalchemy as sa

from shared.batch import insert_rows
from shared.context import open_rowgate
from shared.csvout import safe_cell
from shared.db import LOADS, REJECTIONS
from shared.ingest import ingest_local
from shared.replay import replay
from shared.settings import Settings
from shared.storage import content_hash

ROWGATE = Path(sys.executable).with_name("rowgate")
FIELDS = {
    "departments": ("id", "department"),
    "jobs": ("id", "job"),
    "hired_employees": ("id", "name", "datetime", "department_id", "job_id"),
}
PARENT_KEYS, HIRE_KEYS = 40, 400
CHUNK_ROWS = 25  # small chunks: a kill lands mid-file, between commits
MISSING_PARENT = 900  # parent keys from here on never exist
LEASE_SECONDS = float(os.environ.get("ROWGATE_LEASE_SECONDS") or 3)  # handed to the processes; a stall outlasts it
STALL_EXTRA = 1.5
TRACEBACK = "Traceback (most recent call last)"


def lease_note() -> str:
    """Whether the code reads the lease setting: without it, stalls are shorter than its lease and fencing goes untried."""
    from shared.settings import ENVIRONMENT

    if "ROWGATE_LEASE_SECONDS" in ENVIRONMENT.values():
        return f"lease {LEASE_SECONDS:g} s, stalls {LEASE_SECONDS + STALL_EXTRA:g} s"
    return f"ROWGATE_LEASE_SECONDS is not read by this code: stalls of {LEASE_SECONDS + STALL_EXTRA:g} s stay inside its lease"


def seed_from_environment() -> int:
    raw = os.environ.get("ROWGATE_TORTURE_SEED")
    return int(raw) if raw else random.SystemRandom().randrange(1, 10**6)


def seconds_from_environment(default: float = 30) -> float:
    return float(os.environ.get("ROWGATE_TORTURE_SECONDS") or default)


# Inputs


@dataclass
class Landed:
    path: str  # landing/...
    table: str
    rows: list[tuple[str, ...]]
    wave: int  # 1 for the first file at its path, 2 for the next one there, ...
    round: int = 0  # lands at round x (chaos seconds / rounds) after the start, once its path is free

    @property
    def label(self) -> str:
        return f"{self.path} (wave {self.wave})"

    @property
    def data(self) -> bytes:
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerows(self.rows)
        return out.getvalue().encode()


@dataclass
class Batch:
    table: str
    rows: list[dict]
    request_id: str


@dataclass
class Corpus:
    files: list[Landed]
    clients: list[list[Batch]]
    valid: dict[tuple[str, int], set[tuple[str, ...]]]  # every valid version of each key

    @property
    def batches(self) -> list[Batch]:
        return [batch for client in self.clients for batch in client]


def make_corpus(seed: int, clients: int, batches_per_client: int, rounds: int = 1) -> Corpus:
    rng = random.Random(seed)
    versions: dict[tuple[str, int], list[tuple[str, ...]]] = {}
    for table in ("departments", "jobs"):
        for key in range(1, PARENT_KEYS + 1):
            count = 2 if rng.random() < 0.17 else 1
            versions[table, key] = [(str(key), f"{table[:4]}-{key}" + (f"-v{v}" if v else "")) for v in range(count)]
    for key in range(1, HIRE_KEYS + 1):
        count = 2 if rng.random() < 0.17 else 1
        versions["hired_employees", key] = [_hire(rng, key, v) for v in range(count)]
    valid = {k: set(v) for k, v in versions.items()}

    def pick(table: str) -> tuple[str, ...]:
        size = PARENT_KEYS if table != "hired_employees" else HIRE_KEYS
        return rng.choice(versions[table, rng.randint(1, size)])

    files = []
    first = ["landing/{t}.csv", "landing/a/{t}/part.csv", "landing/b/{t}/part.csv", "landing/{t}/{t}-extra.csv", "landing/{t}.csv"]
    later = ["landing/{t}/r{r}.csv", "landing/{t}.csv", "landing/b/{t}/part.csv"]  # each later round: one new path, two reused
    waves: collections.Counter = collections.Counter()
    plan = [(r, t, n, template) for r in range(rounds) for t in FIELDS for n, template in enumerate(later if r else first)]
    for round_, table, number, template in plan:
        path = template.format(t=table, r=round_)
        waves[path] += 1
        size = PARENT_KEYS if table != "hired_employees" else HIRE_KEYS
        keys = rng.sample(range(1, size + 1), k=size // 2)
        rows = [rng.choice(versions[table, key]) for key in keys]
        for _ in range(rng.randint(0, 2)):  # a row repeated identically: unchanged
            rows.append(rng.choice(rows))
        tag = f"{table}-{round_}-{number}"
        bad = [_bad_row(rng, table, f"{tag}-{n}") for n in range(rng.randint(1, 3))]
        for row in bad:
            rows.insert(rng.randrange(len(rows) + 1), row)
        rng.shuffle(rows)
        files.append(Landed(path, table, rows, waves[path], round_))

    seen: set[str] = set()
    all_clients = []
    for client in range(clients):
        batches = []
        while len(batches) < batches_per_client:
            table = rng.choices(list(FIELDS), weights=[2, 2, 6])[0]
            rows = [pick(table) for _ in range(rng.randint(1, 15))]
            if rng.random() < 0.3:
                rows.append(_bad_row(rng, table, f"api-{client}-{len(batches)}"))
            payload = [_as_json(table, row, rng) for row in rows]
            digest = json.dumps([table, payload], sort_keys=True)
            if digest in seen:  # one content, one load: keep every batch distinct
                continue
            seen.add(digest)
            batches.append(Batch(table, payload, f"torture-{seed}-{client}-{len(batches)}"))
        all_clients.append(batches)
    return Corpus(files, all_clients, valid)


def _hire(rng: random.Random, key: int, version: int) -> tuple[str, ...]:
    when = f"2021-{rng.randint(1, 12):02}-{rng.randint(1, 28):02}T{rng.randint(0, 23):02}:{rng.randint(0, 59):02}:{rng.randint(0, 59):02}Z"
    department = MISSING_PARENT + key if rng.random() < 0.05 else rng.randint(1, PARENT_KEYS)
    return (str(key), f"emp-{key}" + (f"-v{version}" if version else ""), when, str(department), str(rng.randint(1, PARENT_KEYS)))


def _bad_row(rng: random.Random, table: str, tag: str) -> tuple[str, ...]:
    key = str(rng.randint(1, PARENT_KEYS))
    kind = rng.choice(["id", "empty", "datetime"] if table == "hired_employees" else ["id", "empty"])
    if table != "hired_employees":
        return (f"x{tag}", f"bad-{tag}") if kind == "id" else (key, "")
    if kind == "id":
        return (f"x{tag}", f"bad-{tag}", "2021-01-01T00:00:00Z", "1", "1")
    if kind == "empty":
        return (key, f"bad-{tag}", "", "1", "1")
    return (key, f"bad-{tag}", f"not-a-date-{tag}", "1", "1")


def _as_json(table: str, row: tuple[str, ...], rng: random.Random) -> dict:
    """A row as a client sends it: integers sometimes as numbers, sometimes as text."""
    out = {}
    for name, value in zip(FIELDS[table], row):
        integer = name == "id" or name.endswith("_id")
        out[name] = int(value) if integer and value.isdigit() and rng.random() < 0.5 else value
    return out


# Running


@dataclass
class Run:
    kind: str  # migrate | serve | replay
    popen: subprocess.Popen
    stderr: Path
    stdout: Path
    stopped: bool = False


@dataclass
class Stats:
    runs: collections.Counter = field(default_factory=collections.Counter)
    exits: collections.Counter = field(default_factory=collections.Counter)
    statuses: collections.Counter = field(default_factory=collections.Counter)
    kills: collections.Counter = field(default_factory=collections.Counter)
    stalls: collections.Counter = field(default_factory=collections.Counter)
    http: collections.Counter = field(default_factory=collections.Counter)
    http_errors: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)
    replay_resolved: int = 0
    leftovers: list[str] = field(default_factory=list)
    harness_errors: list[str] = field(default_factory=list)
    peak_ingest_runs: int = 0
    host_restarts: int = 0

    def summary(self) -> str:
        return (
            f"{sum(self.runs.values())} processes {dict(self.runs)}, exits {dict(self.exits)}, file results {dict(self.statuses)}; "
            f"SIGKILL {dict(self.kills)}, SIGSTOP past lease {dict(self.stalls)}, host restarts {self.host_restarts}; "
            f"at most {self.peak_ingest_runs} ingest runs at once; "
            f"HTTP {dict(self.http)}; final replay resolved {self.replay_resolved}"
        )


class Torture:
    def __init__(self, workdir: Path, database_url: str, corpus: Corpus, seed: int, seconds: float, ingest_slots: int = 4):
        self.workdir, self.database_url, self.corpus, self.seed = workdir, database_url, corpus, seed
        self.seconds, self.ingest_slots = seconds, ingest_slots
        self.debug = ["--debug"] if os.environ.get("ROWGATE_TORTURE_DEBUG") else []  # processes log a failure's traceback
        self.storage = workdir / "storage"
        self.logs = workdir / "logs"
        self.cwd = workdir / "cwd"  # no landing/ folder here, so `migrate landing/` reads storage
        for folder in (self.storage / "landing", self.storage / ".incoming", self.logs, self.cwd):
            folder.mkdir(parents=True, exist_ok=True)
        self.env = {k: v for k, v in os.environ.items() if not k.startswith(("ROWGATE_", "AZURE_"))}
        self.env |= {
            "ROWGATE_DATABASE_URL": database_url,
            "ROWGATE_STORAGE": str(self.storage),
            "ROWGATE_CHUNK_ROWS": str(CHUNK_ROWS),
            "ROWGATE_LEASE_SECONDS": f"{LEASE_SECONDS:g}",
        }
        self.stats = Stats()
        self.runs: list[Run] = []
        self.live: set[int] = set()  # indexes into runs
        self.lock = threading.Lock()
        self.chaos_rng = random.Random(seed * 7919 + 1)
        self.port = _free_port()
        self.host: Run | None = None
        self.closing = threading.Event()
        self.waves_done = threading.Event()

    # processes

    def spawn(self, kind: str, arguments: list[str], env: dict | None = None) -> Run:
        with self.lock:
            number = len(self.runs)
            stdout, stderr = self.logs / f"{number:05}-{kind}.out", self.logs / f"{number:05}-{kind}.err"
            with stdout.open("wb") as out, stderr.open("wb") as err:
                popen = subprocess.Popen([str(ROWGATE), *self.debug, *arguments], cwd=self.cwd, env=env or self.env, stdout=out, stderr=err)
            run = Run(kind, popen, stderr, stdout)
            self.runs.append(run)
            self.live.add(number)
            self.stats.runs[kind] += 1
            running = sum(1 for i in self.live if self.runs[i].kind == "migrate")
            self.stats.peak_ingest_runs = max(self.stats.peak_ingest_runs, running)
            return run

    def reap(self, run: Run, timeout: float | None = None) -> int:
        rc = run.popen.wait(timeout)
        with self.lock:
            self.live.discard(self.runs.index(run))
            self.stats.exits[f"{run.kind}:{rc}"] += 1
        return rc

    def start_host(self) -> None:
        self.host = self.spawn("serve", ["serve", "--port", str(self.port), "--poll", "0.5"])
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and self.host.popen.poll() is None:
            with contextlib.suppress(httpx.HTTPError):
                if httpx.get(f"{self.base}/api/health", timeout=2).status_code == 200:
                    return
            time.sleep(0.1)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # the actors

    def land(self, file: Landed) -> None:
        """Written aside, then renamed in: landing only ever holds complete files."""
        staging = self.storage / ".incoming" / f"{time.monotonic_ns()}"
        staging.write_bytes(file.data)
        target = self.storage / file.path
        target.parent.mkdir(parents=True, exist_ok=True)
        os.rename(staging, target)

    def landing_empty(self) -> bool:
        return not any(p.is_file() for p in (self.storage / "landing").rglob("*"))

    def lander(self) -> None:
        """Each file at its round's time, once the file before it at the same path has left landing/."""
        pending = [f for f in self.corpus.files if f.round or f.wave > 1]
        interval = self.seconds / max(1, max(f.round for f in self.corpus.files))
        while pending and time.monotonic() < self.hard_deadline:
            busy = set()
            for file in list(pending):
                due = self.started + file.round * interval <= time.monotonic()
                if due and file.path not in busy and not (self.storage / file.path).exists():
                    self.land(file)
                    pending.remove(file)
                busy.add(file.path)  # a later wave at this path waits for this one
            time.sleep(0.1)
        self.waves_done.set()

    def ingest_slot(self) -> None:
        while time.monotonic() < self.hard_deadline:
            if self.waves_done.is_set() and self.landing_empty():
                return
            run = self.spawn("migrate", ["migrate", "landing/", "--json"])
            rc = self.reap(run)
            with contextlib.suppress(ValueError, OSError):
                for result in json.loads(run.stdout.read_text() or "[]"):
                    self.stats.statuses[result["status"]] += 1
            if rc != 0:
                time.sleep(0.2)

    def client(self, number: int, batches: list[Batch]) -> None:
        rng = random.Random(self.seed * 31 + number)
        pause = self.seconds / max(1, len(batches))
        with httpx.Client(timeout=20) as http:
            for batch in batches:
                time.sleep(rng.uniform(0, 2 * pause) if time.monotonic() < self.chaos_deadline else 0)
                self.post(http, batch)

    def post(self, http: httpx.Client, batch: Batch) -> None:
        url = f"{self.base}/api/tables/{batch.table}/rows"
        while time.monotonic() < self.hard_deadline:
            try:
                response = http.post(url, json=batch.rows, headers={"x-request-id": batch.request_id})
            except httpx.HTTPError as exc:
                self.stats.http[type(exc).__name__] += 1
                time.sleep(0.2)
                continue
            self.stats.http[response.status_code] += 1
            if response.status_code == 200:
                return
            if response.status_code in (429, 503):  # "busy, come back": what a client is told to do, not a failure
                time.sleep(_retry_after(response.headers.get("retry-after")))
                continue
            self.stats.http_errors.append(f"{batch.request_id} {response.status_code}: {response.text[:200]}")
            if response.status_code < 500:
                return  # a refusal of a valid batch: reported, not retried
            time.sleep(0.2)
        self.stats.unanswered.append(batch.request_id)

    def host_keeper(self) -> None:
        while not self.closing.is_set():
            if self.host.popen.poll() is not None:
                self.reap(self.host)
                self.stats.host_restarts += 1
                self.start_host()
            time.sleep(0.1)

    def chaos(self) -> None:
        rng = self.chaos_rng
        while time.monotonic() < self.chaos_deadline:
            time.sleep(rng.uniform(0.2, 1.0))
            with self.lock:
                victims = [self.runs[i] for i in sorted(self.live) if not self.runs[i].stopped and self.runs[i].popen.poll() is None]
                if not victims:
                    continue
                victim = rng.choice(victims)
                if rng.random() < 0.7:
                    victim.popen.send_signal(signal.SIGKILL)
                    self.stats.kills[victim.kind] += 1
                else:
                    victim.popen.send_signal(signal.SIGSTOP)
                    victim.stopped = True
                    self.stats.stalls[victim.kind] += 1
                    threading.Timer(LEASE_SECONDS + STALL_EXTRA, self.resume, [victim]).start()

    def resume(self, run: Run) -> None:
        with self.lock:
            if run.popen.poll() is None:
                run.popen.send_signal(signal.SIGCONT)
            run.stopped = False

    def run(self, finish_seconds: float = 180) -> None:
        setup = open_rowgate(Settings(database_url=self.database_url, storage=str(self.storage), chunk_rows=CHUNK_ROWS))
        setup.engine.dispose()  # the schema exists before the processes start: start-up races are another test's
        for file in self.corpus.files:
            if file.round == 0 and file.wave == 1:
                self.land(file)
        started = self.started = time.monotonic()
        self.chaos_deadline = started + self.seconds
        self.hard_deadline = started + self.seconds + finish_seconds
        try:
            self._run_everything()
        finally:
            self.elapsed = time.monotonic() - started
            self._end_leftovers()

    def _run_everything(self) -> None:
        self.start_host()
        threads = [self.thread(self.lander), self.thread(self.chaos)]
        threads += [self.thread(self.ingest_slot) for _ in range(self.ingest_slots)]
        threads += [self.thread(self.client, n, b) for n, b in enumerate(self.corpus.clients)]
        keeper = self.thread(self.host_keeper)
        for thread in [*threads, keeper]:
            thread.start()
        for thread in threads:
            thread.join(max(1.0, self.hard_deadline - time.monotonic() + 30))
        self.closing.set()
        keeper.join(30)
        self.host.popen.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.reap(self.host, timeout=15)
        final = self.spawn("replay", ["replay"])
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.reap(final, timeout=120)
        self.stats.replay_resolved = sum(int(n) for n in _resolved_counts(final.stdout.read_text()))

    def thread(self, target, *arguments) -> threading.Thread:
        """An actor's thread; an error of the harness itself is a finding, never a silently shorter run."""

        def guarded():
            try:
                target(*arguments)
            except Exception as exc:
                self.stats.harness_errors.append(f"{target.__name__}: {type(exc).__name__}: {exc}")

        return threading.Thread(target=guarded, name=f"torture-{target.__name__}")

    def _end_leftovers(self) -> None:
        """A process still running at the end is a finding (it hung), and is killed so nothing outlives the test."""
        self.closing.set()
        with self.lock:
            leftovers = [self.runs[i] for i in sorted(self.live) if self.runs[i].popen.poll() is None]
        for run in leftovers:
            self.stats.leftovers.append(f"{run.kind} ({run.stderr.name})")
            with contextlib.suppress(ProcessLookupError):
                run.popen.send_signal(signal.SIGCONT)
                run.popen.kill()
            run.popen.wait(10)


def _retry_after(value: str | None) -> float:
    try:
        return min(5.0, max(0.1, float(value or 0.5)))
    except ValueError:  # an HTTP date: not worth parsing for a test
        return 0.5


def _resolved_counts(text: str) -> list[str]:
    return [line.split("resolved ")[1].split(",")[0] for line in text.splitlines() if "resolved " in line]


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# The reference: a clean sequential run


def clean_tables(workdir: Path, corpus: Corpus) -> dict[str, dict[int, tuple[str, ...]]]:
    folder = workdir / "clean"
    rowgate = open_rowgate(
        Settings(database_url=f"sqlite:///{folder / 'clean.db'}", storage=str(folder / "storage"), chunk_rows=CHUNK_ROWS)
    )
    order = {name: i for i, name in enumerate(FIELDS)}
    for number, file in enumerate(sorted(corpus.files, key=lambda f: order[f.table])):
        local = folder / "files" / str(number) / Path(file.path).name
        local.parent.mkdir(parents=True)
        local.write_bytes(file.data)
        ingest_local(rowgate, local, file.table)
    for batch in corpus.batches:
        insert_rows(rowgate, batch.table, batch.rows, request_id=batch.request_id)
    replay(rowgate)
    tables = read_tables(rowgate.engine, rowgate.metadata)
    rowgate.engine.dispose()
    return tables


# Checking


def read_tables(engine: sa.Engine, metadata: sa.MetaData) -> dict[str, dict[int, tuple[str, ...]]]:
    tables = {}
    with engine.connect() as conn:
        for name, fields in FIELDS.items():
            table = metadata.tables[name]
            rows = conn.execute(sa.select(*[table.c[f] for f in fields]))
            tables[name] = {int(row[0]): tuple(_text(v) for v in row) for row in rows}
    return tables


def _text(value) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _cells(table: str, raw) -> tuple[str, ...]:
    if isinstance(raw, dict):
        return tuple(_text(raw.get(name)) for name in FIELDS[table])
    return tuple(_text(v) for v in raw)


@dataclass
class Input:
    """The rows one source delivered: a landed file or a batch."""

    source: str
    table: str
    rows: list[tuple[str, ...]]
    row_number: int  # the first row's number (from 1, in files and batches alike)


class Findings:
    def __init__(self):
        self.by_check: dict[str, list[str]] = collections.defaultdict(list)

    def add(self, check: str, example: str) -> None:
        self.by_check[check].append(example)

    def report(self, limit: int = 4) -> str:
        lines = []
        for check, examples in self.by_check.items():
            shown = "; ".join(examples[:limit])
            lines.append(f"- {check}: {len(examples)}, e.g. {shown}" + (" ..." if len(examples) > limit else ""))
        return "\n".join(lines)


def check(torture: Torture, reference: dict[str, dict[int, tuple[str, ...]]]) -> Findings:
    findings = Findings()
    corpus = torture.corpus
    rowgate = open_rowgate(Settings(database_url=torture.database_url, storage=str(torture.storage)))
    try:
        tables = read_tables(rowgate.engine, rowgate.metadata)
        with rowgate.engine.connect() as conn:
            loads = conn.execute(sa.select(rowgate.metadata.tables[LOADS])).mappings().all()
            rejections_table = rowgate.metadata.tables[REJECTIONS]
            rejections = conn.execute(
                sa.select(
                    rejections_table.c.table_name,
                    rejections_table.c.source,
                    rejections_table.c.row_number,
                    rejections_table.c.raw,
                    rejections_table.c.resolved_at,
                    rejections_table.c.reasons,
                )
            ).all()
    finally:
        rowgate.engine.dispose()
    _keep_state(torture.workdir / "state", tables, loads, rejections)
    inputs = [Input(f.path, f.table, f.rows, 1) for f in corpus.files]
    inputs += [Input(f"api:{b.request_id}", b.table, [_cells(b.table, r) for r in b.rows], 1) for b in corpus.batches]
    _check_rows(findings, inputs, tables, rejections)
    _check_ledger(findings, corpus, loads)
    _check_reference(findings, corpus, tables, reference)
    _check_storage(findings, torture, loads)
    _check_processes(findings, torture)
    return findings


def _keep_state(folder: Path, tables: dict, loads: list, rejections: list) -> None:
    """The end state as JSON beside the logs: a failed run can be read after its database is gone."""
    folder.mkdir(exist_ok=True)
    (folder / "tables.json").write_text(json.dumps({t: sorted(rows.values()) for t, rows in tables.items()}, indent=0))
    (folder / "loads.json").write_text(json.dumps([dict(load) for load in loads], default=str, indent=0))
    (folder / "rejections.json").write_text(json.dumps([list(r) for r in rejections], default=str, indent=0))


def _check_rows(findings: Findings, inputs: list[Input], tables: dict, rejections: list) -> None:
    """Invariant 1 and 2: each row in its table or open in the rejections, exactly once, logged once."""
    occurrences: collections.Counter = collections.Counter()
    table_of: dict[tuple, str] = {}
    for item in inputs:
        for offset, cells in enumerate(item.rows):
            identity = (item.source, item.row_number + offset, cells)
            occurrences[identity] += 1
            table_of[identity] = item.table
    open_logged: collections.Counter = collections.Counter()
    all_logged: collections.Counter = collections.Counter()
    reason: dict[tuple, str] = {}
    for table, source, row_number, raw, resolved_at, reasons in rejections:
        identity = (source, row_number, _cells(table, json.loads(raw)))
        reason.setdefault(identity, "; ".join(str(e.get("message")) for e in json.loads(reasons))[:120])
        all_logged[identity] += 1
        if resolved_at is None:
            open_logged[identity] += 1
        if identity not in occurrences:
            findings.add("rejection of no input row", f"{source} row {row_number} {identity[2]}")
    for identity, count in all_logged.items():
        if identity in occurrences and count > occurrences[identity]:
            findings.add("duplicate rejection (same source, row)", f"{identity[0]} row {identity[1]} logged {count}x")
    for identity, count in occurrences.items():
        source, row_number, cells = identity
        table = table_of[identity]
        key = int(cells[0]) if cells[0].isdigit() else None
        in_table = key is not None and tables[table].get(key) == cells
        logged = open_logged[identity]
        if in_table and logged:
            findings.add("row both in its table and open in rejections", f"{table} {source} row {row_number} {cells} ({reason[identity]})")
        elif not in_table and logged < count:
            how = "marked resolved, not in its table" if all_logged[identity] > logged else "never logged"
            findings.add("row lost (neither in its table nor open in rejections)", f"{table} {source} row {row_number} {cells} ({how})")


def _check_ledger(findings: Findings, corpus: Corpus, loads: list) -> None:
    """Invariant 3: one done ledger row per file and per batch, whose counts add up to its rows. A file's
    ledger row is found by the hash of its bytes, else (another fingerprint) by its path and rows read."""
    inputs = [(f.path, len(f.rows)) for f in corpus.files] + [(f"api:{b.request_id}", len(b.rows)) for b in corpus.batches]
    by_hash = {content_hash(io.BytesIO(f.data)): n for n, f in enumerate(corpus.files)}
    by_source = collections.defaultdict(list)
    for number, (source, _) in enumerate(inputs):
        by_source[source].append(number)
    seen: collections.Counter = collections.Counter()
    for load in sorted(loads, key=lambda load: load["content_hash"] not in by_hash):
        if load["status"] != "done":
            findings.add("load left not done", f"load {load['id']} {load['source']} status {load['status']} rows_read {load['rows_read']}")
        number = by_hash.get(load["content_hash"])
        if number is None:
            candidates = sorted(by_source.get(load["source"], []), key=lambda n: (seen[n], inputs[n][1] != load["rows_read"]))
            number = candidates[0] if candidates else None
        if number is None:
            findings.add("ledger row for no input", f"load {load['id']} {load['source']}")
            continue
        seen[number] += 1
        name, rows = inputs[number]
        total = load["inserted"] + load["unchanged"] + load["rejected"]
        if total != rows:
            counts = f"{load['inserted']}+{load['unchanged']}+{load['rejected']}={total}"
            findings.add("ledger counts != rows of the input", f"{name}: {counts}, has {rows} rows")
    for number, (name, _) in enumerate(inputs):
        if seen[number] != 1:
            findings.add("input without exactly one ledger row", f"{name}: {seen[number]} ledger rows")


def _check_reference(findings: Findings, corpus: Corpus, tables: dict, reference: dict) -> None:
    """Invariant 4: the clean sequential run's content, for non-conflicting keys; one of its versions or none for the others."""
    for table in FIELDS:
        for key in sorted(set(tables[table]) | set(reference[table])):
            got, want = tables[table].get(key), reference[table].get(key)
            versions = corpus.valid.get((table, key), set())
            if len(versions) > 1:
                if got is not None and got not in versions:  # which version, if any, wins is the order's: rows are checked one by one
                    findings.add("conflicting key holds none of its versions", f"{table} {key}: {got}")
            elif got != want:
                findings.add("table differs from the clean sequential run", f"{table} {key}: {got} (clean: {want})")


def _check_storage(findings: Findings, torture: Torture, loads: list) -> None:
    """Invariant 5: landing empty, each landed file archived once, and one rejected-rows file of its own."""
    root = torture.storage
    for left in (root / "landing").rglob("*"):
        if left.is_file():
            findings.add("file left in landing", str(left.relative_to(root)))
    archived = collections.Counter(p.read_bytes() for p in (root / "archive").rglob("*") if p.is_file())
    for file in torture.corpus.files:
        count = archived.pop(file.data, 0)
        if count != 1:
            findings.add("landed file not archived exactly once", f"{file.label} archived {count}x")
    for data, count in archived.items():
        findings.add("archive holds a file that never landed", f"{count}x {data[:40]!r}")
    rejected_of = {load["content_hash"]: load["rejected"] for load in loads}
    matched: collections.Counter = collections.Counter()
    for written in sorted(p for p in (root / "rejected").rglob("*") if p.is_file()):
        name = written.relative_to(root).as_posix()
        try:
            lines = list(csv.reader(io.StringIO(written.read_text())))[1:]
        except (UnicodeDecodeError, csv.Error):
            lines = []
        owners = [f for f in torture.corpus.files if _rows_of(f, lines)]
        if len(owners) != 1:
            findings.add("rejected/ file that is no one file's refused rows", f"{name} ({len(lines)} rows, {len(owners)} candidates)")
            continue
        owner = owners[0]
        matched[owner.label] += 1
        want = rejected_of.get(content_hash(io.BytesIO(owner.data)))
        if want is not None and len(lines) != want:
            findings.add("rejected-rows file count != ledger's rejected", f"{name}: {len(lines)} rows, ledger {want}")
    for file in torture.corpus.files:
        if matched[file.label] != 1:
            findings.add("landed file without exactly one rejected-rows file", f"{file.label}: {matched[file.label]}")


def _rows_of(file: Landed, lines: list[list[str]]) -> bool:
    """Every line (row number, the fields' cells, the extra cells as JSON, errors) is that row of the file."""
    return bool(lines) and all(
        line[0].isdigit() and 0 < int(line[0]) <= len(file.rows) and line[1:-1] == _as_written(file.rows[int(line[0]) - 1], len(line) - 3)
        for line in lines
    )


def _as_written(row: tuple[str, ...], width: int) -> list[str]:
    """A file's row as its .rejected.csv line shows it: cells made formula-safe, too few padded, too many as JSON."""
    cells = [safe_cell(cell) for cell in row[:width]] + [""] * (width - len(row))
    return [*cells, json.dumps(list(row[width:]), ensure_ascii=False) if len(row) > width else ""]


def _check_processes(findings: Findings, torture: Torture) -> None:
    """Invariant 6: no traceback reaches anyone, no crash, no 5xx, every batch answered."""
    crashes: collections.Counter = collections.Counter()
    for run in torture.runs:
        text = run.stderr.read_text(errors="replace")
        if TRACEBACK in text:
            crashes[f"{run.kind}: {_last_error(text)}"] += 1
        elif run.popen.returncode == 1:
            crashes[f"{run.kind}: exit 1 {text.strip()[-160:]}"] += 1
    for error, count in crashes.most_common():
        findings.add("traceback or crash in a process", f"{count}x {error}")
    for error in torture.stats.http_errors:
        findings.add("HTTP answer other than 200", error)
    for error in torture.stats.harness_errors:
        findings.add("the harness itself failed (the run is incomplete)", error)
    for leftover in torture.stats.leftovers:
        findings.add("process still running at the deadline (hung)", leftover)
    for request_id in torture.stats.unanswered:
        findings.add("batch never answered 200 before the deadline", request_id)


def _last_error(text: str) -> str:
    """The exception line of the last traceback, short: what failed, not the whole stack."""
    tail = text[text.rfind(TRACEBACK) :].splitlines()
    errors = [line for line in tail[1:] if line and not line.startswith((" ", "\t", "The above", "During handling"))]
    line = errors[0] if errors else tail[-1]
    return line.split("\n")[0][:160]
