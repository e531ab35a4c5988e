"""Key races: a unit of work whose key checks another transaction's commit made stale, run again.

Validation reads keys, then the same transaction writes. Between the two another request may commit the
same primary key, or a restore may remove a parent: the database's constraint refuses our write. Run again,
the unit's checks see that commit and refuse the row with its reason (primary-key, foreign-key) instead.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

import sqlalchemy as sa
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_random

from shared.retry import retry_transient

T = TypeVar("T")

log = logging.getLogger(__name__)

KEY_RACES = 8  # each race needs a new commit of the same key inside our few milliseconds: 8 in a row do not happen


def is_key_race(error: BaseException) -> bool:
    """A unique or foreign-key violation, raised through SQLAlchemy or straight from the driver (COPY and
    executemany run on the raw DB-API cursor, so psycopg's UniqueViolation arrives unwrapped)."""
    if isinstance(error, sa.exc.IntegrityError):
        return True
    return any(kind.__name__ == "IntegrityError" for kind in type(error).__mro__)  # every DB-API driver defines it (PEP 249)


def retry_key_races(work: Callable[[], T]) -> T:
    """Run `work` (opens and commits its own transaction) with retry_transient; when it loses a key race, run
    it again after a short random pause, up to KEY_RACES times."""
    retrying = Retrying(
        retry=retry_if_exception(is_key_race),
        stop=stop_after_attempt(KEY_RACES),
        wait=wait_random(0, 0.05),
        before_sleep=lambda state: log.info("key race (attempt %d): checked again: %s", state.attempt_number, state.outcome.exception()),
        reraise=True,
    )
    return retrying(lambda: retry_transient(work))
