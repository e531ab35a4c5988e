"""The `rowgate` command: a thin layer over the same functions the Azure Functions call."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path
from urllib.parse import urlencode, urlsplit

import click
import sqlalchemy as sa
from tqdm import tqdm

from shared import backup, browse, csvout, eventgrid, rejections, reports, restore
from shared import replay as replay_module
from shared.context import azure_sql_schema, initialize, open_rowgate
from shared.dictionary import load as load_dictionary
from shared.errors import Conflict, Damaged, InputRefused, NotFound, RowgateError, decimal_int, printable
from shared.fieldtypes import parse_datetime
from shared.generate import generate as generate_files
from shared.generate import generate_tables
from shared.ingest import IngestResult, ingest_local, table_for
from shared.ingest import migrate as migrate_files
from shared.limits import MAX_PAGE, MAX_RECENT, REJECTION_STATUSES
from shared.load import LoadBusy
from shared.replay import replay as replay_rejections
from shared.settings import ENVIRONMENT, from_environment

FORMATS = click.Choice(["table", "csv", "json"])


class Integer(click.IntRange):
    """click's IntRange reads its text with int(), which takes "\u0663", "1_0" and " 5": ASCII digits only here."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and decimal_int(value) is None:
            self.fail(f"{value!r} is not an integer (digits 0-9, an optional sign)", param, ctx)
        return super().convert(value, param, ctx)


YEAR = Integer(1900, 2100)


def _progress(**kwargs) -> tqdm:
    return tqdm(disable=not sys.stderr.isatty(), file=sys.stderr, unit_scale=True, **kwargs)


def _first_line(text: str) -> str:
    return next((line.strip() for line in str(text).splitlines() if line.strip()), "")


def exit_code(exc: RowgateError) -> int:
    """The exit code of each kind of RowgateError (shared/errors.py), the one place: 2 for input to fix or
    something to try again (refused, not found, busy), 1 for a refusal (a conflict, damaged data)."""
    return 1 if isinstance(exc, (Conflict, Damaged)) else 2


class Rowgate(click.Group):
    """Every failure is one line on stderr naming what is wrong and what to do: exit 2 for bad input, 1 for a
    refusal or a failure; `--debug` (before the command) shows the traceback instead."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        args = list(sys.argv[1:] if args is None else args)
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:  # `rowgate` or `rowgate report` alone: the help
            exc.show()
            sys.exit(exc.exit_code)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            click.echo(f"Error: {_first_line(exc.format_message())}{hint}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            click.echo(f"Error: {_first_line(exc.format_message())}", err=True)
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        except RowgateError as exc:
            if "--debug" in args:
                raise
            click.echo(f"Error: {_first_line(exc)}", err=True)
            sys.exit(exit_code(exc))
        except Exception as exc:
            if "--debug" in args:
                raise
            click.echo(f"Error: {type(exc).__name__}: {_first_line(exc)} (run 'rowgate --debug ...' for the traceback)", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


@click.group(cls=Rowgate)
@click.option("--database", envvar="ROWGATE_DATABASE_URL", help="SQLAlchemy URL [default: sqlite:///.data/rowgate.db]")
@click.option("--storage", envvar="ROWGATE_STORAGE", help="folder, Azure connection string or blob account URL [default: .data/storage]")
@click.option("--debug", is_flag=True, help="show a failure's traceback instead of its one-line message")
@click.pass_context
def main(ctx: click.Context, database: str | None, storage: str | None, debug: bool) -> None:
    """rowgate: validate files and rows against one data dictionary and load them into SQL."""
    ctx.obj = {"database_url": database, "storage": storage}


def _rowgate(ctx: click.Context):
    try:
        return open_rowgate(from_environment(**ctx.obj))
    except (InputRefused, ValueError, sa.exc.ArgumentError, sa.exc.DBAPIError) as exc:  # a setting rowgate cannot use
        if ctx.find_root().params.get("debug"):
            raise
        raise click.UsageError(_setting_problem(exc, ctx.obj.get("database_url"))) from None


def _setting_problem(exc: Exception, url: str | None) -> str:
    """One line that says which setting is wrong and what to do."""
    shown = f"--database {_shown_url(url)}" if url else "the database"
    if isinstance(exc, sa.exc.NoSuchModuleError):
        return f"{shown}: unknown kind of database; use sqlite:///FILE, postgresql+psycopg://HOST/DB or mssql+pyodbc://..."
    if isinstance(exc, sa.exc.ArgumentError):
        return f"{shown}: not a database URL; e.g. sqlite:///.data/rowgate.db or postgresql+psycopg://HOST/DB"
    if isinstance(exc, sa.exc.DBAPIError):
        return f"{shown}: cannot use it: {_first_line(exc.orig or exc)}; check the URL and that the server runs"
    return _first_line(exc)


def _shown_url(url: str) -> str:
    try:
        return sa.make_url(url).render_as_string(hide_password=True)
    except sa.exc.ArgumentError:
        return repr(printable(url)[:200])


class _Stderr(logging.Handler):
    """Log records as plain lines on the stderr of the command running now."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(self.format(record), err=True)


def _show_redrives(ctx: click.Context) -> None:
    """Re-drives (refused rows checked again when their parents load) are logged; a command that loads rows
    shows them on stderr, one line each, while it runs."""
    redrives, handler = logging.getLogger(replay_module.__name__), _Stderr()
    level = redrives.level
    redrives.addHandler(handler)
    redrives.setLevel(logging.INFO)
    ctx.call_on_close(lambda: (redrives.removeHandler(handler), redrives.setLevel(level)))


def _check_table(rowgate, table: str, hint: str = "'--table'") -> None:
    try:
        rowgate.dictionary.table(table)
    except NotFound as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None


def _instant(text: str | None) -> str | None:
    """An ISO 8601 instant (with or without separators or zone; a date is its midnight, no zone is UTC) as a
    backup stamp, so that names and instants compare in time order."""
    if text is None:
        return None
    try:
        datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not an ISO 8601 instant; e.g. 2026-11-22T05:19:10Z, 20261122T051910Z or 2026-11-22", param_hint="'--at'"
        ) from None
    try:  # the API's reading of an instant: naive UTC, refused outside years 1 to 9999 in UTC or below the microsecond
        return backup.stamp(parse_datetime(text).replace(tzinfo=UTC))
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="'--at'") from None


@main.command()
@click.pass_context
def init(ctx: click.Context) -> None:
    """Create the tables, the ledger, the rejections table, and create or replace the report views."""
    rowgate = _rowgate(ctx)
    initialize(rowgate, replace_views=True)
    click.echo(f"ready: {rowgate.engine.url.render_as_string(hide_password=True)}, storage {rowgate.storage.describe()}")


@main.command("azure-sql-schema")
def azure_sql_schema_command() -> None:
    """Print the schema as a sqlcmd script for Azure SQL (idempotent); infra/hooks/postprovision.sh runs it."""
    try:
        data = load_dictionary(from_environment().dictionary or None)
    except (InputRefused, ValueError) as exc:
        raise click.UsageError(str(exc)) from None
    click.echo(azure_sql_schema(data), nl=False)


@main.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--table", help="load every file into this table instead of telling it from the file name")
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON")
@click.option("--strict", is_flag=True, help="exit 1 when any row was refused")
@click.pass_context
def ingest(ctx: click.Context, paths: tuple[Path, ...], table: str | None, as_json: bool, strict: bool) -> None:
    """Validate and load local CSV or Parquet files, parents before children. Files stay where they are."""
    rowgate = _rowgate(ctx)
    _show_redrives(ctx)
    if table:
        _check_table(rowgate, table)
    results: list[IngestResult] = []
    order = {t.name: i for i, t in enumerate(rowgate.dictionary.dependency_order())}

    def rank(path: Path) -> int:
        try:
            return order[table_for(rowgate, path.as_posix(), table)[0].name]
        except (InputRefused, NotFound):
            return -1

    for path in sorted(paths, key=rank):
        if path.is_dir():
            results.append(
                IngestResult(
                    str(path), table, "refused", message=f"a folder, not a file; load a folder's files with: rowgate migrate {path}"
                )
            )
            if not as_json:
                _echo_result(results[-1])
            continue
        with _progress(desc=path.name, unit=" rows") as bar:
            try:
                result = ingest_local(rowgate, path, table, progress=bar.update)
            except (InputRefused, NotFound) as exc:
                result = IngestResult(str(path), table, "refused", message=str(exc))
            except LoadBusy as exc:
                result = IngestResult(str(path), table, "busy", message=str(exc))
        results.append(result)
        if not as_json:
            _echo_result(result)
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in results], indent=2))
    if any(r.status in ("refused", "busy") for r in results):
        sys.exit(2)
    if strict and any(r.rejected for r in results):
        sys.exit(1)


def _echo_result(result: IngestResult) -> None:
    if result.status in ("refused", "busy"):
        click.echo(f"{result.source}: {result.status}: {result.message}", err=True)
        return
    if result.status == "already-loaded":
        click.echo(f"{result.source} -> {result.table}: already loaded: {result.message}")
        return
    click.echo(f"{result.source} -> {result.table}: inserted {result.inserted}, unchanged {result.unchanged}, rejected {result.rejected}")


@main.command()
@click.option("--table", help="only this table's rejections")
@click.pass_context
def replay(ctx: click.Context, table: str | None) -> None:
    """Validate the open rejections again and load the rows that now pass (also: rowgate rejections replay)."""
    rowgate = _rowgate(ctx)
    if table:
        _check_table(rowgate, table)
    for r in replay_rejections(rowgate, table):
        line = f"{r.table}: replayed {r.replayed}, resolved {r.resolved}, still refused {r.still_refused}"
        if r.need_a_fix:
            rows = "row refused for its shape" if r.need_a_fix == 1 else "rows refused for their shape"
            line += (
                f"; {r.need_a_fix} {rows} not checked again: fix with "
                f"rowgate rejections fix ID FIELD=VALUE... (rowgate rejections list --table {r.table} lists them)"
            )
        click.echo(line)


@main.group("rejections")
def rejections_group() -> None:
    """Find, fix and re-drive refused rows (the same as the /api/rejections routes)."""


rejections_group.add_command(replay)


@rejections_group.command("list")
@click.option("--table", help="only this table's")
@click.option("--source", help="only this source (a file's path, or api:<request id>)")
@click.option("--error", "code", metavar="CODE", help="only rows refused with this error code (foreign-key, type-error, ...)")
@click.option("--status", type=click.Choice(REJECTION_STATUSES), default="open", show_default=True)
@click.option("--after", type=Integer(1, rejections.INT64_MAX), help="the last id of the previous page")
@click.option("--limit", type=Integer(1, MAX_PAGE), default=20, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="print the page as JSON, as the API answers it")
@click.pass_context
def list_rejections(ctx, table, source, code, status, after, limit, as_json) -> None:
    """Rejections, newest first, a page at a time."""
    rowgate = _rowgate(ctx)
    if table:
        _check_table(rowgate, table)
    page = rejections.find(rowgate, table, source, code, status, after, limit)
    if as_json:
        click.echo(json.dumps(page, indent=2, ensure_ascii=False))
        return
    rows = [
        (
            r["id"],
            r["table"],
            r["row_number"],
            ", ".join(sorted({e["code"] for e in r["errors"]})),
            r["resolution"] or ("resolved" if r["resolved_at"] else "open"),
            printable(r["source"])[-60:],
        )
        for r in page["rejections"]
    ]
    _print_report(reports.Report(["id", "table", "row", "errors", "status", "source"], rows), "table")
    if page["next"] is not None:
        click.echo(f"next page: --after {page['next']}")


@rejections_group.command("show")
@click.argument("rejection_id", metavar="ID", type=Integer(1, rejections.INT64_MAX))
@click.pass_context
def show_rejection(ctx: click.Context, rejection_id: int) -> None:
    """One rejection as JSON: its raw row, errors, and how it was resolved."""
    click.echo(json.dumps(rejections.get(_rowgate(ctx), rejection_id), indent=2, ensure_ascii=False))


def _assignments(_ctx, _param, given: tuple[str, ...]) -> dict:
    values = {}
    for item in given:
        field, equals, value = item.partition("=")
        if not equals or not field:
            raise click.BadParameter(f"{item[:60]!r} is not FIELD=VALUE")
        if field in values:
            raise click.BadParameter(f"{field[:60]!r} is given twice")
        values[field] = value
    return values


@rejections_group.command("fix")
@click.argument("rejection_id", metavar="ID", type=Integer(1, rejections.INT64_MAX))
@click.argument("values", metavar="FIELD=VALUE...", nargs=-1, required=True, callback=_assignments)
@click.pass_context
def fix_rejection(ctx: click.Context, rejection_id: int, values: dict) -> None:
    """Lay corrected values (text, as in a CSV cell) over a refused row and load it if it now passes; exit 1
    when it is still refused (it stays open with the new reasons)."""
    rowgate = _rowgate(ctx)
    _show_redrives(ctx)
    result = rejections.fix(rowgate, rejection_id, values)
    table = result.rejection["table"]
    if result.status == "refused":
        reasons = "; ".join(f"{e['field'] or 'row'}: {e['code']}: {e['message']}" for e in result.errors)
        click.echo(f"rejection {rejection_id}: still refused, it stays open: {reasons}", err=True)
        sys.exit(1)
    done = "loaded into" if result.status == "loaded" else "resolved: already loaded in"
    click.echo(f"rejection {rejection_id}: {done} {table}")


@rejections_group.command("export")
@click.option("--table", required=True, help="the table whose rejections to write (the columns are its fields)")
@click.option("--open/--all", "open_only", default=True, show_default=True, help="the open rejections, or all of them")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), help="write to this file (default: standard output)")
@click.pass_context
def export_rejections(ctx: click.Context, table: str, open_only: bool, out: Path | None) -> None:
    """Write rejections in the layout of the .rejected.csv files (row number, cells, reasons)."""
    rowgate = _rowgate(ctx)
    _check_table(rowgate, table)
    if out is None:
        written = rejections.export(rowgate, sys.stdout.buffer, table, open_only)
    else:
        if not out.parent.is_dir():
            raise click.BadParameter(f"no such folder: {out.parent}", param_hint="'--out'")
        part = out.with_name(f".{out.name}.part")  # the file appears whole or not at all
        try:
            with part.open("wb") as stream:
                written = rejections.export(rowgate, stream, table, open_only)
            part.replace(out)
        finally:
            part.unlink(missing_ok=True)
    click.echo(f"{written} {'open ' if open_only else ''}rejections of {table} written to {out or 'standard output'}", err=True)


@main.command()
@click.argument("location")
@click.option("--json", "as_json", is_flag=True, help="print the results as JSON")
@click.pass_context
def migrate(ctx: click.Context, location: str, as_json: bool) -> None:
    """The historic migration: every file of a folder or storage prefix, parents' files first; then each table's
    rows and open rejections."""
    rowgate = _rowgate(ctx)
    _show_redrives(ctx)
    started = time.monotonic()
    with _progress(desc="migrate", unit=" rows") as bar:
        results = migrate_files(rowgate, location, progress=bar.update)
    if not results:
        if Path(location).is_dir():
            raise click.UsageError(f"no .csv or .parquet files in the folder {location}")
        if location.startswith(("/", ".", "~")) or Path(location).exists():
            raise click.UsageError(f"no such folder: {location}")
        raise click.UsageError(f"no such folder, and no .csv or .parquet files under {location!r} in {rowgate.storage.describe()}")
    if as_json:
        click.echo(json.dumps([r.as_dict() for r in results], indent=2))
    else:
        for result in results:
            _echo_result(result)
        _echo_summary(rowgate, results, time.monotonic() - started)
    if any(r.status in ("refused", "busy") for r in results):
        sys.exit(2)


def _echo_summary(rowgate, results: list[IngestResult], seconds: float) -> None:
    """When a migration is done, what the tables it loaded hold now: their rows, and their refused rows still open."""
    statuses = ", ".join(f"{count} {status}" for status, count in sorted(Counter(r.status for r in results).items()))
    click.echo(f"migration done in {seconds:.1f} s: {len(results)} files ({statuses})")
    tables = [t.name for t in rowgate.dictionary.dependency_order() if t.name in {r.table for r in results}]
    rows, still_open = browse.row_counts(rowgate, tables), rejections.open_by_table(rowgate)
    width = max([len(t) for t in tables] + [5])
    for table in tables:
        click.echo(f"  {table:<{width}}  {rows[table]:>9} rows loaded  {still_open.get(table, 0):>7} refused rows open")


@main.command("backup")
@click.argument("tables", nargs=-1)
@click.pass_context
def backup_command(ctx: click.Context, tables: tuple[str, ...]) -> None:
    """Back up tables (all by default) to Avro under backups/, from one consistent snapshot."""
    rowgate = _rowgate(ctx)
    for table in tables:
        _check_table(rowgate, table, "'TABLES'")
    with _progress(desc="backup", unit=" rows") as bar:
        infos = backup.backup(rowgate, list(tables) or None, progress=bar.update)
    for info in infos:
        click.echo(f"{info.name}: {info.rows} rows, {info.size} bytes")


@main.command("backups")
@click.argument("table", required=False)
@click.option("--json", "as_json", is_flag=True, help="print the list as JSON")
@click.pass_context
def backups_command(ctx: click.Context, table: str | None, as_json: bool) -> None:
    """List backup sets (one snapshot each; incomplete ones marked) and backups, newest first: time, rows, size."""
    rowgate = _rowgate(ctx)
    if table:
        _check_table(rowgate, table, "'TABLE'")
    infos = backup.list_backups(rowgate, table)
    if as_json:
        click.echo(json.dumps([i.as_dict() for i in infos], indent=2))
        return
    sets = [
        (s.at, "complete" if s.complete else "INCOMPLETE", ", ".join(s.missing + [f"{t} (unreadable)" for t in s.unreadable]))
        for s in backup.backup_sets(rowgate)
    ]
    _print_report(reports.Report(["set", "state", "lacks"], sets), "table")
    click.echo()
    rows = [(i.name, i.created, i.rows, i.size, "complete" if i.set_complete else "incomplete") for i in infos]
    _print_report(reports.Report(["name", "created", "rows", "size", "set"], rows), "table")


@main.command("restore")
@click.argument("table", required=False)
@click.option("--backup", "name", help="a backup name or path (default: the newest)")
@click.option("--all", "everything", is_flag=True, help="restore every table from one backup set, parents first")
@click.option("--at", help="with --all: the newest complete set at or before this ISO 8601 instant (UTC if no zone)")
@click.pass_context
def restore_command(ctx: click.Context, table: str | None, name: str | None, everything: bool, at: str | None) -> None:
    """Replace a table's rows (or every table's, from the newest complete set) with a verified backup, all or nothing."""
    if everything and table:
        raise click.UsageError(f"give a TABLE ({table}) or --all, not both")
    if not everything and not table:
        raise click.UsageError("name a TABLE or give --all")
    if (name and everything) or (at and not everything):
        raise click.UsageError("--backup goes with a TABLE, --at with --all")
    at = _instant(at)
    rowgate = _rowgate(ctx)
    if table:
        _check_table(rowgate, table, "'TABLE'")
    try:
        results = restore.restore_all(rowgate, at) if everything else [restore.restore(rowgate, table, name)]
    except RowgateError as exc:
        click.echo(f"restore refused, nothing changed: {_first_line(exc)}", err=True)
        sys.exit(exit_code(exc))
    for r in results:
        undone = f"; {r.loads_undone} later loads undone in the ledger" if r.loads_undone else ""
        click.echo(f"{r.table} <- {r.backup}: {r.rows} rows (inserted {r.inserted}, updated {r.updated}, deleted {r.deleted}){undone}")


@main.group()
def report() -> None:
    """The metric reports and recent courses."""


@report.command("hires-by-quarter")
@click.option("--year", type=YEAR, default=2021, show_default=True)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def hires_by_quarter(ctx: click.Context, year: int, fmt: str) -> None:
    """Hires per quarter of YEAR for each department and job, alphabetical."""
    rowgate = _rowgate(ctx)
    with rowgate.engine.connect() as conn:
        _print_report(reports.hires_by_quarter(conn, rowgate.metadata.tables, year), fmt)


@report.command("departments-above-mean")
@click.option("--year", type=YEAR, default=2021, show_default=True)
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def departments_above_mean(ctx: click.Context, year: int, fmt: str) -> None:
    """Departments that hired more than the mean of all departments in YEAR."""
    rowgate = _rowgate(ctx)
    with rowgate.engine.connect() as conn:
        _print_report(reports.departments_above_mean(conn, rowgate.metadata.tables, year), fmt)


@report.command("recent-courses")
@click.option("--since", type=click.DateTime(["%Y-%m-%d", "%Y-%m-%dT%H:%M:%S"]), help="only courses starting on or after")
@click.option("--limit", type=Integer(1, MAX_RECENT), default=10, show_default=True)
@click.option("--category", help="category name")
@click.option("--level", help="level name")
@click.option("--format", "fmt", type=FORMATS, default="table", show_default=True)
@click.pass_context
def recent_courses(ctx: click.Context, since: datetime | None, limit: int, category: str | None, level: str | None, fmt: str) -> None:
    """Courses by newest start date."""
    rowgate = _rowgate(ctx)
    with rowgate.engine.connect() as conn:
        _print_report(reports.recent_courses(conn, rowgate.metadata.tables, since, limit, category, level), fmt)


def _print_report(report: reports.Report, fmt: str) -> None:
    rows = [[_cell(value) for value in row] for row in report.rows]
    if fmt == "json":
        click.echo(json.dumps([dict(zip(report.columns, row)) for row in report.rows], default=_cell, indent=2))
    elif fmt == "csv":
        writer = csvout.Writer(sys.stdout, lineterminator="\n")
        writer.writerow(report.columns)
        writer.writerows(rows)
    else:
        widths = [max([len(c)] + [len(str(r[i])) for r in rows]) for i, c in enumerate(report.columns)]
        click.echo("  ".join(c.ljust(w) for c, w in zip(report.columns, widths)))
        click.echo("  ".join("-" * w for w in widths))
        for row in rows:
            click.echo("  ".join(str(v).ljust(w) for v, w in zip(row, widths)))
        click.echo(f"({len(rows)} rows)")


def _cell(value):
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%dT%H:%M:%SZ")
    if isinstance(value, date):
        return value.isoformat()
    return value


@main.command()
@click.option("--host", "address", default="127.0.0.1", show_default=True)
@click.option("--port", type=Integer(1, 65535), default=7071, show_default=True)
@click.option("--poll", type=click.FloatRange(0.1, 3600), default=1.0, show_default=True, help="seconds between looks at landing/")
@click.pass_context
def serve(ctx: click.Context, address: str, port: int, poll: float) -> None:
    """Development host: function_app's HTTP routes, blob triggers and timers, without Core Tools."""
    settings = from_environment(**ctx.obj)
    # The functions read their settings from the environment, as in Azure: hand them ours.
    for name, variable in ENVIRONMENT.items():
        os.environ[variable] = str(getattr(settings, name))
    from functions.registry import registered
    from shared.devhost import DevHost
    from shared.devhost import serve as run_host

    rowgate = _rowgate(ctx)
    click.echo(f"rowgate dev host on http://{address}:{port}/api (a development host; Azure Functions is the production runtime)", err=True)
    run_host(DevHost(registered(), rowgate.storage, settings.function_key, poll), address, port)


def _host_url(_ctx, _param, value: str) -> str:
    """--forward is an http(s) URL with a host: anything else (localhost:7071, file:///, a broken [::1) is a
    usage error at once, not a traceback or a failed post per blob."""
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError as exc:
        raise click.BadParameter(f"{value[:100]!r} is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
        raise click.BadParameter(f"give the host as http(s)://host[:port] (the key goes in --code), got {value[:100]!r}")
    return value


@main.command()
@click.option(
    "--forward", required=True, metavar="URL", callback=_host_url, help="the Functions host, e.g. http://localhost:7071 (func start)"
)
@click.option("--function", "function_name", default="ingest_landed_blob", show_default=True, help="the blob trigger to run")
@click.option("--container", default="landing", show_default=True, help="the container (or folder) to watch")
@click.option("--code", envvar="ROWGATE_WEBHOOK_KEY", help="the host's blobs_extension key; Core Tools needs none")
@click.option("--poll", type=click.FloatRange(0.1, 3600), default=1.0, show_default=True, help="seconds between looks")
@click.option("--once", is_flag=True, help="post one event per blob there now, then exit (1 if a post failed)")
@click.pass_context
def watch(ctx: click.Context, forward: str, function_name: str, container: str, code: str | None, poll: float, once: bool) -> None:
    """Post a BlobCreated event to the host's blob webhook for each new blob in the landing container, as Event
    Grid does in Azure: Azurite emits no events, so under Core Tools file drops only trigger ingest this way."""
    rowgate = _rowgate(ctx)
    account_url = rowgate.storage.service.url if hasattr(rowgate.storage, "service") else Path(rowgate.storage.root).resolve().as_uri()
    query = urlencode({"functionName": f"Host.Functions.{function_name}", **({"code": code} if code else {})})
    webhook = f"{forward.rstrip('/')}{eventgrid.WEBHOOK}?{query}"
    seen: set[str] = set()
    while True:
        try:
            present = set(rowgate.storage.list(f"{container}/"))
        except Exception as exc:  # storage down (Azurite not started): say so, and look again
            click.echo(f"cannot list {container}/ in {rowgate.storage.describe()}: {type(exc).__name__}: {str(exc)[:200]}", err=True)
            if once:
                sys.exit(2)
            time.sleep(poll)
            continue
        failed = False
        for path in sorted(present - seen):
            event = eventgrid.blob_created(account_url, *path.split("/", 1), rowgate.storage.size(path))
            status, detail = _post_event(webhook, event)
            if status == 202:
                click.echo(f"{printable(path)}: BlobCreated posted to {forward}")
                seen.add(path)
            else:
                failed = True
                click.echo(f"{printable(path)}: the host answered {status}: {printable(detail)[:300]}", err=True)
        seen &= present  # a blob that left (ingested and archived) and lands again is new again
        if once:
            sys.exit(1 if failed else 0)
        time.sleep(poll)


def _post_event(url: str, event: dict) -> tuple[int | str, str]:
    request = urllib.request.Request(
        url, data=json.dumps(event).encode(), method="POST", headers={"content-type": "application/json", "aeg-event-type": "Notification"}
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, ""
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read(1000).decode("utf-8", "replace")
    except OSError as exc:
        return "no answer", str(exc)


@main.command()
@click.argument("domain", type=click.Choice(["hr", "courses", "dictionary"]))
@click.option("--rows", type=Integer(min=0), default=1000, show_default=True)
@click.option("--seed", type=Integer(), default=1, show_default=True)
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True)
@click.option("--dirty-rate", type=click.FloatRange(0, 1), default=0.02, show_default=True)
def generate(domain: str, rows: int, seed: int, out: Path, dirty_rate: float) -> None:
    """Write deterministic synthetic files of a domain (hr: headerless CSVs; courses: CSV dimensions, Parquet facts;
    dictionary: every table of the dictionary in use (ROWGATE_DICTIONARY), from its fields' types and constraints,
    in each resource's format, dialect and encoding; tables other tables reference get a tenth of the rows)."""
    with _progress(total=rows, desc=f"generate {domain}", unit=" rows") as bar:
        if domain == "dictionary":
            data = load_dictionary(from_environment().dictionary or None)
            paths = generate_tables(data, rows, seed, out, dirty_rate, progress=bar.update)
        else:
            paths = generate_files(domain, rows, seed, out, dirty_rate, progress=bar.update)
    for path in paths:  # once the bar is closed: printed inside it, they shared its line and it was drawn again below them
        click.echo(path)


if __name__ == "__main__":
    main()
