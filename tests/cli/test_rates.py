"""Rates from the event stream, as ``watch`` shows them."""

from __future__ import annotations

from asynctasq.operations.rates import EventRates


def test_rates_count_the_last_window_per_queue_and_kind() -> None:
    rates = EventRates(window=60)
    rates.since = 1000.0
    for at in (1001.0, 1030.0, 1059.0):
        rates.add("task_completed", "email", at)
    rates.add("task_completed", None, 1030.0)  # a worker event: no queue, not counted
    rates.add("task_started", "email", 1030.0)  # not a finishing kind
    rates.add("task_failed", "sms", 1050.0)
    assert rates.per_second("email", "task_completed", now=1060.0) == 3 / 60
    assert rates.per_second("email", "task_completed", now=1090.0) == 2 / 60  # 1001 left
    assert rates.per_second("sms", "task_failed", now=1060.0) == 1 / 60
    assert rates.per_second("email", "task_started", now=1060.0) == 0.0
    assert rates.queues() == ["email", "sms"]


def test_a_rate_is_over_the_time_counted_until_the_window_is_full() -> None:
    rates = EventRates(window=60)
    rates.since = 1000.0
    rates.add("task_completed", "email", 1005.0)
    assert rates.per_second("email", "task_completed", now=1010.0) == 1 / 10
