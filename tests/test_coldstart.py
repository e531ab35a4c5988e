"""Cold start: importing the Function App loads only what the worker needs to index it; the core's libraries
(SQLAlchemy, Arrow, numpy, fastavro, ...) wait for the first request that uses them (bench/coldstart.py measures it)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# The decorators build the bindings: azure-functions, Durable (its Blueprint) and the blob SDK-type binding (the
# worker finds a BlobClient parameter's converter only when the extension is imported with the app).
INDEXING = "import azure.functions, azure.durable_functions, azurefunctions.extensions.bindings.blob"
CORE_LIBRARIES = ("sqlalchemy", "pyarrow", "numpy", "fastavro", "tenacity", "psycopg", "pyodbc")


def imported_libraries(code: str) -> set[str]:
    """The top-level packages outside the standard library that `code` leaves imported, in a fresh process."""
    listing = f"{code}; import sys; print(*sorted({{m.split('.')[0] for m in sys.modules}} - set(sys.stdlib_module_names)))"
    out = subprocess.run([sys.executable, "-c", listing], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return set(out.split())


def test_importing_function_app_imports_no_library_beyond_what_indexing_needs():
    beyond = imported_libraries("import function_app") - imported_libraries(INDEXING) - {"function_app", "functions", "shared"}
    assert beyond == set()


def test_importing_function_app_leaves_the_core_libraries_to_their_first_use():
    assert imported_libraries("import function_app") & set(CORE_LIBRARIES) == set()
