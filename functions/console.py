"""The web console: its page and static assets (console/), the overview it opens on, and file uploads in blocks.

The page and its assets are anonymous (they hold no data and no secret: the page asks for the function key and
keeps it in sessionStorage); everything they call is behind the same function keys as the rest of the API.
Assets are served under a version that is the hash of all of them, so each may be cached for a year.
"""

from __future__ import annotations

import hashlib
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

import azure.functions as func

from functions.http import SECURITY_HEADERS, HttpError, document, handled, json_response, param, query_int, query_text, read_json
from functions.runtime import rowgate
from shared.errors import decimal_int
from shared.limits import LAST_LOADS, MAX_UPLOAD_BLOCKS, MAX_UPLOAD_NAME_CHARS, UPLOAD_BLOCK_BYTES

if TYPE_CHECKING:
    from shared.uploads import Upload

bp = func.Blueprint()
ASSETS = Path(__file__).resolve().parents[1] / "console"
PAGE = "index.html"
MEDIA_TYPES = {".js": "text/javascript", ".css": "text/css", ".svg": "image/svg+xml", ".txt": "text/plain", ".html": "text/html"}
FOREVER = "public, max-age=31536000, immutable"
UPLOAD_QUERY = [
    param("table", {"type": "string"}, "the table the file is for", required=True),
    param("name", {"type": "string", "maxLength": MAX_UPLOAD_NAME_CHARS}, "the file's name (.csv or .parquet)", required=True),
]
UPLOAD_PATH = param("upload", {"type": "string", "pattern": "^[0-9a-f]{32}$"}, "the id POST /api/uploads answered", where="path")


@cache
def assets() -> tuple[str, dict[str, bytes]]:
    """(version, files): every file under console/ but the page, by its path there; the version hashes them all."""
    files = {f.relative_to(ASSETS).as_posix(): f.read_bytes() for f in sorted(ASSETS.rglob("*")) if f.is_file() and f.name != PAGE}
    digest = hashlib.sha256()
    for name, content in files.items():
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()[:16], files


def _static(body: bytes, name: str, cache_control: str) -> func.HttpResponse:
    media_type = MEDIA_TYPES.get(Path(name).suffix, "application/octet-stream")
    headers = SECURITY_HEADERS | {"Cache-Control": cache_control}
    return func.HttpResponse(body, status_code=200, headers=headers, mimetype=media_type, charset="utf-8")


@bp.route(route="console", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@document("The web console's page (its assets are under /api/console/assets/<version>/)", responses={200: "ConsolePage"})
@handled
def console_page(req: func.HttpRequest) -> func.HttpResponse:
    version, _ = assets()
    page = (ASSETS / PAGE).read_text(encoding="utf-8").replace("{assets}", f"console/assets/{version}")
    # Never cached: a new release's page names its new assets at once.
    return _static(page.encode(), PAGE, "no-cache")


@bp.route(route="console/assets/{version}/{*path}", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
@document(
    "A static asset of the console, cached for a year: its version is the hash of all of them",
    [param("version", {"type": "string"}, "the assets' hash", where="path"), param("path", {"type": "string"}, "the asset", where="path")],
    responses={200: "ConsoleAsset", 404: "Error"},
)
@handled
def console_asset(req: func.HttpRequest) -> func.HttpResponse:
    version, files = assets()
    path = req.route_params.get("path", "")
    if req.route_params.get("version") != version or path not in files:
        # An old page asking for old assets gets no new bytes under the old hash (a cache would keep them a year).
        raise HttpError(404, "not-found", f"no asset {path[:100]!r} in version {req.route_params.get('version', '')[:20]!r}")
    return _static(files[path], path, FOREVER)


@bp.route(route="overview", methods=["GET"])
@document(
    "Each table with its rows (exact, or the catalog's estimate on big tables), last loads, open rejections and backups",
    [param("loads", {"type": "integer", "minimum": 1, "maximum": 50, "default": LAST_LOADS}, "loads shown per table")],
    responses={200: "Overview"},
)
@handled
def console_overview(req: func.HttpRequest) -> func.HttpResponse:
    from shared import overview

    return json_response(overview.overview(rowgate(), query_int(req, "loads", LAST_LOADS, 1, 50)))


def _upload(req: func.HttpRequest, upload_id: str | None = None) -> Upload:
    from shared import uploads

    table, name = query_text(req, "table"), query_text(req, "name", MAX_UPLOAD_NAME_CHARS * 4)
    if upload_id is None:
        return uploads.start(rowgate(), table, name)
    return uploads.upload(rowgate(), upload_id, table, name)


@bp.route(route="uploads", methods=["POST"])
@document(
    f"Start uploading a file into landing/<table>/: answers its id, its path and the block size; send its blocks (PUT), then "
    f"commit. Blocks of up to {UPLOAD_BLOCK_BYTES // 2**20} MiB keep every request far below the host's body limit",
    UPLOAD_QUERY,
    responses={201: "Upload"},
)
@handled
def start_upload(req: func.HttpRequest) -> func.HttpResponse:
    if read_json(req, 1024, empty={}) != {}:
        raise HttpError(400, "wrong-shape", "uploads takes no body; name the table and file with ?table=&name=")
    return json_response(_upload(req).as_dict(), 201)


@bp.route(route="uploads/{upload}/blocks/{index}", methods=["PUT"])
@document(
    "Stage one block of an upload (application/octet-stream, 1 byte to the block size; blocks count from 0; sending one again replaces it)",
    [UPLOAD_PATH, param("index", {"type": "integer", "minimum": 0}, "the block's number", where="path"), *UPLOAD_QUERY],
    body="Bytes",
    responses={200: "Block", 413: "Error"},
)
@handled
def put_block(req: func.HttpRequest) -> func.HttpResponse:
    if (req.headers.get("content-type") or "").split(";")[0].strip().lower() != "application/octet-stream":
        raise HttpError(415, "unsupported-media-type", "send a block as application/octet-stream")
    raw = req.route_params.get("index", "")
    index = decimal_int(raw) if raw.isdigit() else None  # no sign either
    if index is None or not 0 <= index < MAX_UPLOAD_BLOCKS:
        raise HttpError(400, "bad-parameter", f"the block index must be a number from 0 to {MAX_UPLOAD_BLOCKS - 1}", parameter="index")
    target = _upload(req, req.route_params.get("upload", ""))
    data = req.get_body()
    if len(data) > UPLOAD_BLOCK_BYTES:
        raise HttpError(413, "too-large", f"the block is {len(data)} bytes; the limit is {UPLOAD_BLOCK_BYTES}")
    from shared import uploads

    uploads.put_block(rowgate(), target, index, data)
    return json_response({"upload": target.id, "block": index, "bytes": len(data)})


@bp.route(route="uploads/{upload}/commit", methods=["POST"])
@document(
    'Commit an upload: {"blocks": n, "bytes": size}. The file appears in landing/ whole, or not at all (a block missing, '
    "a size that does not add up: 400; committed before: 409), and the blob trigger ingests it",
    [UPLOAD_PATH, *UPLOAD_QUERY],
    body="UploadCommit",
    responses={201: "Committed", 409: "Error"},
)
@handled
def commit_upload(req: func.HttpRequest) -> func.HttpResponse:
    target = _upload(req, req.route_params.get("upload", ""))
    body = read_json(req, 1024)
    if not isinstance(body, dict) or set(body) != {"blocks", "bytes"} or not all(type(v) is int for v in body.values()):
        raise HttpError(400, "wrong-shape", 'send {"blocks": <how many blocks>, "bytes": <the file\'s size>}')
    from shared import uploads

    return json_response(uploads.commit(rowgate(), target, body["blocks"], body["bytes"]), 201)
