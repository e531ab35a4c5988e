"""prefetch: same items in the same order, errors surface in the consumer, an early stop ends the producer."""

from __future__ import annotations

import threading

import pytest

from shared.prefetch import prefetch


def test_items_come_in_order():
    assert list(prefetch(iter(range(1000)), depth=3)) == list(range(1000))


def test_a_producer_error_is_raised_where_items_are_consumed():
    def items():
        yield 1
        raise ValueError("bad block")

    consumed = []
    with pytest.raises(ValueError, match="bad block"):
        for item in prefetch(items()):
            consumed.append(item)
    assert consumed == [1]


def test_stopping_early_stops_the_producer():
    produced = []

    def items():
        for i in range(10_000):
            produced.append(i)
            yield i

    for item in prefetch(items()):
        if item == 2:
            break
    assert len(produced) <= 5
    assert not any(t.name == "prefetch" for t in threading.enumerate())
