"""AWS's schedule expressions, checked before AWS sees them: ``cron(...)`` and ``rate(...)`` as EventBridge (rules
and Scheduler) and AWS Backup take them.

``cron(minutes hours day-of-month month day-of-week year)``, in UTC, six fields separated by single spaces:

=============  =========================  ==================
field          values                     also
=============  =========================  ==================
minutes        0-59                       , - * /
hours          0-23                       , - * /
day-of-month   1-31                       , - * / ? L W
month          1-12 or JAN-DEC            , - * /
day-of-week    1-7 or SUN-SAT (SUN = 1)   , - * / ? L #
year           1970-2199                  , - * /
=============  =========================  ==================

Exactly one of day-of-month and day-of-week is ``?`` (AWS refuses both set, and both ``?``). ``rate(N unit)``: N a
whole number from 1, the unit ``minute``/``hour``/``day`` when N is 1 and ``minutes``/``hours``/``days`` otherwise.

No pinned library checks AWS's dialect offline (cron libraries read Unix cron's five fields, or Quartz's seconds
field), so this module is that grammar, from the EventBridge and Scheduler user guides. Standard library only.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

EXAMPLE = "cron(0 6 ? * MON *)"
FORMAT = f"cron(minutes hours day-of-month month day-of-week year) in UTC, e.g. {EXAMPLE}"

MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
WEEKDAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")
RATE_UNITS = ("minute", "hour", "day")


class BadExpression(ValueError):
    """The expression is not one AWS takes; the message says what is wrong (one line, no quoted control characters)."""


@dataclass(frozen=True)
class _Field:
    name: str
    lo: int
    hi: int
    names: tuple[str, ...] = ()  # MON, JAN...: the name at index i is the value lo + i
    question: bool = False  # ``?`` allowed (the day fields)

    def value(self, text: str) -> int:
        if text.upper() in self.names:
            return self.lo + self.names.index(text.upper())
        if not re.fullmatch(r"[0-9]{1,4}", text):
            names = f" or {self.names[0]}-{self.names[-1]}" if self.names else ""
            raise BadExpression(f"{self.name} field: {text!r} is not a value ({self.lo}-{self.hi}{names})")
        number = int(text)
        if not self.lo <= number <= self.hi:
            raise BadExpression(f"{self.name} field: {number} is out of range ({self.lo}-{self.hi})")
        return number


_FIELDS = (
    _Field("minutes", 0, 59),
    _Field("hours", 0, 23),
    _Field("day-of-month", 1, 31, question=True),
    _Field("month", 1, 12, MONTHS),
    _Field("day-of-week", 1, 7, WEEKDAYS, question=True),
    _Field("year", 1970, 2199),
)


def _item(spec: _Field, item: str) -> None:
    """One comma-separated item of a field: ``*``, a value, a range, either with ``/step``, or a day form."""
    if spec.name == "day-of-month" and re.fullmatch(r"L|LW|([1-9]|[12][0-9]|3[01])W", item):
        return
    if spec.name == "day-of-week":
        if item == "L":
            return
        if re.fullmatch(r"[1-7]L|[A-Za-z]{3}L", item):  # the last such weekday of the month
            spec.value(item[:-1])
            return
        if "#" in item:
            day, _, nth = item.partition("#")
            spec.value(day)
            if nth not in ("1", "2", "3", "4", "5"):
                raise BadExpression(f"day-of-week field: {item!r}: the week after # must be 1 to 5")
            return
    base, slash, step = item.partition("/")
    if slash:
        if not re.fullmatch(r"[1-9][0-9]{0,3}", step) or int(step) > spec.hi:
            raise BadExpression(f"{spec.name} field: {item!r}: the step after / must be a whole number from 1 to "
                                f"{spec.hi}")
    if base == "*":
        return
    first, dash, last = base.partition("-")
    start = spec.value(first)
    if dash and spec.value(last) < start:
        raise BadExpression(f"{spec.name} field: {item!r}: a range goes from low to high")


def check_cron(body: str) -> None:
    """The inside of ``cron(...)``; raises ``BadExpression``."""
    parts = body.split(" ")
    if "" in parts:
        raise BadExpression(f"has a doubled, leading or trailing space; separate the fields by single spaces: {FORMAT}")
    if len(parts) != len(_FIELDS):
        raise BadExpression(f"has {len(parts)} fields; AWS takes six: {FORMAT}")
    for spec, text in zip(_FIELDS, parts, strict=True):
        if text == "?":
            if not spec.question:
                raise BadExpression(f"{spec.name} field: '?' is for day-of-month or day-of-week only")
            continue
        for item in text.split(","):
            if not item:
                raise BadExpression(f"{spec.name} field: {text!r} has an empty item between commas")
            _item(spec, item)
    if (parts[2] == "?") == (parts[4] == "?"):
        raise BadExpression("exactly one of day-of-month and day-of-week must be '?' (e.g. cron(0 6 ? * MON *) or "
                            "cron(0 6 1 * ? *))")


def check_rate(body: str) -> None:
    """The inside of ``rate(...)``; raises ``BadExpression``."""
    match = re.fullmatch(r"([0-9]{1,9}) ([a-z]+)", body)
    if not match or int(match[1]) == 0:
        raise BadExpression("must be rate(N unit): N a whole number from 1 and the unit minute(s), hour(s) or "
                            "day(s), e.g. rate(1 day) or rate(12 hours)")
    number, unit = int(match[1]), match[2]
    expected = RATE_UNITS if number == 1 else tuple(f"{u}s" for u in RATE_UNITS)
    if unit not in expected:
        raise BadExpression(f"rate({number} ...) takes the unit {', '.join(expected[:-1])} or {expected[-1]} "
                            f"({'singular for 1' if number == 1 else 'plural above 1'}), not {unit!r}")


def check(expression: str, rate: bool = True) -> str:
    """``expression`` when AWS takes it as a schedule; else ``BadExpression`` saying why. ``rate=False``: cron only
    (AWS Backup's schedules)."""
    if not isinstance(expression, str):
        raise BadExpression(f"must be a string: {FORMAT}")
    if not expression.isprintable():
        raise BadExpression("has a control character or line break; write it on one line")
    kind, paren, rest = expression.partition("(")
    if not paren or not rest.endswith(")") or "(" in rest or ")" in rest[:-1] or kind not in ("cron", "rate"):
        raise BadExpression(f"is not a cron expression: {FORMAT}" + (" (or rate(N unit))" if rate else ""))
    if kind == "rate" and not rate:
        raise BadExpression(f"is a rate expression; this schedule takes cron only: {FORMAT}")
    (check_cron if kind == "cron" else check_rate)(rest[:-1])
    return expression
