"""Cold start: importing the Function App leaves the libraries only some functions use to the first use."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFERRED = ("fastavro",)  # bench/coldstart.py measures the gain


def test_importing_function_app_does_not_import_the_libraries_left_to_their_first_use():
    code = f"import sys, function_app; print(sorted(m for m in {DEFERRED!r} if m in sys.modules))"
    imported = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    assert imported == "[]"
