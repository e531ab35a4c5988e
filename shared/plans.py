"""Plans: which work runs in which order. Pure functions, shared by the CLI, the dev host and Durable."""

from __future__ import annotations

from shared.dictionary import Dictionary


def migration_stages(dictionary: Dictionary, paths: list[str]) -> list[list[str]]:
    """Files in stages: each file after every file of the tables its table references; a stage's files
    may run in parallel. Files for no known table come first (they are refused, each with its reason)."""
    levels = dictionary.levels()
    depth = {path: levels.get(dictionary.table_for_path(path) or "", -1) for path in paths}
    return [sorted(p for p in paths if depth[p] == level) for level in sorted(set(depth.values()))]


def backup_tables(dictionary: Dictionary) -> list[str]:
    """Every table, parents first: the fan-out of a backup of all tables."""
    return [table.name for table in dictionary.dependency_order()]
