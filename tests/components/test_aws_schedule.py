"""AWS's schedule grammar (components/aws_schedule.py): rate expressions, and every schedule the program writes."""

from __future__ import annotations

import pytest

from components import aws_schedule, run_schedule
from components.restore_drill import DAILY_SCHEDULE, WEEKLY_SCHEDULE


@pytest.mark.parametrize("expression", ["rate(1 minute)", "rate(5 minutes)", "rate(1 hour)", "rate(12 hours)",
                                        "rate(1 day)", "rate(7 days)"])
def test_rate_expressions_aws_takes(expression):
    assert aws_schedule.check(expression) == expression


@pytest.mark.parametrize("expression,why", [
    ("rate(1 days)", "rate(1 ...) takes the unit minute, hour or day (singular for 1), not 'days'"),
    ("rate(2 day)", "rate(2 ...) takes the unit minutes, hours or days (plural above 1), not 'day'"),
    ("rate(0 days)", "must be rate(N unit): N a whole number from 1 and the unit minute(s), hour(s) or day(s), e.g. "
                     "rate(1 day) or rate(12 hours)"),
    ("rate(1 week)", "rate(1 ...) takes the unit minute, hour or day (singular for 1), not 'week'"),
    ("rate(-1 days)", "must be rate(N unit): N a whole number from 1 and the unit minute(s), hour(s) or day(s), e.g. "
                      "rate(1 day) or rate(12 hours)"),
    ("rate(5  minutes)", "must be rate(N unit): N a whole number from 1 and the unit minute(s), hour(s) or day(s), "
                         "e.g. rate(1 day) or rate(12 hours)"),
    ("rate(5 minutes)\r", "has a control character or line break; write it on one line"),
    ("at(2026-01-01T00:00:00)", f"is not a cron expression: {aws_schedule.FORMAT} (or rate(N unit))"),
])
def test_rate_expressions_aws_refuses(expression, why):
    with pytest.raises(aws_schedule.BadExpression) as caught:
        aws_schedule.check(expression)
    assert str(caught.value) == why


def test_every_schedule_the_program_writes_is_one_aws_takes():
    schedule = run_schedule.parse("Mon-Fri 08:00-19:00 Europe/Dublin")
    for expression in (DAILY_SCHEDULE, WEEKLY_SCHEDULE, schedule.start_cron, schedule.stop_cron,
                       run_schedule.parse("daily 06:30-22:45 UTC").start_cron):
        assert aws_schedule.check(expression, rate=False) == expression
