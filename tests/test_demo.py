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
