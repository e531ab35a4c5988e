"""scripts/demo.sh, run for real with its setup and the rowgate command stood in for (they install and serve)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess

from tests.conftest import ROOT


def run_demo(tmp_path, **env) -> subprocess.CompletedProcess:
    (tmp_path / "scripts").mkdir()
    shutil.copy(ROOT / "scripts" / "demo.sh", tmp_path / "scripts" / "demo.sh")
    (tmp_path / "scripts" / "setup.sh").write_text("exit 0\n")
    (tmp_path / ".venv" / "bin").mkdir(parents=True)
    stand_in = tmp_path / ".venv" / "bin" / "rowgate"
    # Records its calls; `generate ... --out DIR` leaves a file in DIR, as the real one does.
    stand_in.write_text(
        '#!/bin/sh\necho "rowgate $*" >> calls.log\n'
        'while [ $# -gt 0 ]; do if [ "$1" = --out ]; then mkdir -p "$2" && touch "$2/$(basename $2).csv"; fi; shift; done\n'
    )
    stand_in.chmod(0o755)
    environment = {k: v for k, v in os.environ.items() if k != "PORT"} | env
    return subprocess.run(["bash", "scripts/demo.sh"], cwd=tmp_path, env=environment, capture_output=True, text=True, timeout=60)


def test_the_demo_prints_and_serves_on_the_port_given(tmp_path):
    done = run_demo(tmp_path, PORT="7181")
    assert done.returncode == 0, done.stderr
    urls = re.findall(r"http://\S+", done.stdout)
    assert len(urls) == 6 and all(u.startswith("http://127.0.0.1:7181/api/") for u in urls), done.stdout
    assert "7071" not in done.stdout
    calls = (tmp_path / "calls.log").read_text().splitlines()
    assert calls[-2:] == ["rowgate migrate landing/", "rowgate serve --port 7181"]  # ingested, parents first, before it serves


def test_the_demo_uses_7071_by_default(tmp_path):
    done = run_demo(tmp_path)
    assert done.returncode == 0, done.stderr
    assert len(re.findall(r"http://127\.0\.0\.1:7071/api/", done.stdout)) == 6
    assert (tmp_path / "calls.log").read_text().splitlines()[-1] == "rowgate serve --port 7071"


def test_the_demo_for_real_migrates_then_serves_every_url_it_prints(tmp_path):
    """scripts/demo.sh itself, in a copy of the repository's scripts beside this checkout's .venv: its own data,
    its own port; each URL it prints must answer 200 once it serves."""
    import signal
    import socket
    import time

    import httpx

    (tmp_path / "scripts").mkdir()
    for name in ("scripts/demo.sh", "scripts/setup.sh", "requirements.txt", "requirements-dev.txt", "pyproject.toml"):
        shutil.copy2(ROOT / name, tmp_path / name)  # mtimes kept: setup.sh finds the .venv up to date
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    environment = {k: v for k, v in os.environ.items() if not k.startswith("ROWGATE_")} | {"PORT": str(port)}
    log = (tmp_path / "demo.log").open("w")
    demo = subprocess.Popen(
        ["bash", "scripts/demo.sh"], cwd=tmp_path, env=environment, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and demo.poll() is None:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.5)
        output = (tmp_path / "demo.log").read_text()
        assert demo.poll() is None, output
        urls = re.findall(r"http://127\.0\.0\.1:\d+/api/\S+", output)
        assert len(urls) == 6, output  # the web console and five API URLs
        for url in urls:
            assert httpx.get(url, timeout=30).status_code == 200, url
        migrated = output[: output.index(urls[0])]
        assert "migration done in" in migrated and re.search(r"hired_employees\s+\d+ rows loaded\s+\d+ refused rows open", migrated)
        assert migrated.index("departments.csv ->") < migrated.index("hired_employees.csv ->")  # parents first
        assert httpx.get(f"http://127.0.0.1:{port}/api/rejections", params={"limit": 5}).json()["rejections"]
    finally:
        os.killpg(demo.pid, signal.SIGTERM)
        demo.wait(timeout=30)
        log.close()
