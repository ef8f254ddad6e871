"""When a dev database runs: ``dbRunSchedule``, e.g. ``"Mon-Fri 08:00-19:00 Europe/Dublin"``.

The instance is started at the start time and stopped at the stop time on the named days, in the named IANA time
zone (EventBridge Scheduler's universal target calls ``rds:StartDBInstance``/``rds:StopDBInstance``: no function).
Outside those hours the instance is stopped: no instance-hours are billed (storage and backups still are), and
``cruddur stack wake -s STACK`` starts it on demand. Days: ``daily``, a range (``Mon-Fri``) or a list
(``Mon,Wed,Fri``); times ``HH:MM`` (24 h), the stop after the start on the same day.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

DAYS = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
FORMAT = "e.g. \"Mon-Fri 08:00-19:00 Europe/Dublin\" (days: daily, Mon-Fri or Mon,Wed,Fri; times HH:MM; an IANA zone)"
MIN_RUN_HOURS = 3  # the nightly backup runs inside the run hours (an hour after the start, 30 minutes long)
_SHAPE = re.compile(r"^(?P<days>\S+) (?P<start>\d\d):(?P<start_m>\d\d)-(?P<stop>\d\d):(?P<stop_m>\d\d) (?P<zone>\S+)$")


class BadSchedule(ValueError):
    """The schedule text cannot be read; the message says what is wrong (one line)."""


@dataclass(frozen=True)
class RunSchedule:
    days: tuple[str, ...]  # MON..SUN, in week order
    start: tuple[int, int]  # (hour, minute)
    stop: tuple[int, int]
    timezone: str
    text: str = ""  # as written in the stack file

    def __repr__(self) -> str:  # error lines show the setting as it was written
        return repr(self.text)

    @property
    def hours_per_week(self) -> float:
        minutes = (self.stop[0] * 60 + self.stop[1]) - (self.start[0] * 60 + self.start[1])
        return round(len(self.days) * minutes / 60, 2)

    def cron(self, at: tuple[int, int]) -> str:
        """EventBridge Scheduler's cron(minutes hours day-of-month month day-of-week year) for ``at``."""
        return f"cron({at[1]} {at[0]} ? * {','.join(self.days)} *)"

    def _utc(self, day: str, after: timedelta) -> datetime:
        """``after`` the run's start on ``day`` of a winter week (2026-01-05 is a Monday), in UTC."""
        local = datetime(2026, 1, 5 + DAYS.index(day), *self.start, tzinfo=ZoneInfo(self.timezone))
        return (local + after).astimezone(UTC)

    @property
    def backup_window(self) -> str:
        """RDS's daily backup window in UTC (``HH:MM-HH:MM``): 30 minutes from an hour after the run starts, since
        RDS backs up only a running instance. Computed for the zone's winter offset; in summer time it falls an hour
        off in local time, still inside the run (at least ``MIN_RUN_HOURS`` long)."""
        begin = self._utc(self.days[0], timedelta(hours=1))
        return f"{begin:%H:%M}-{begin + timedelta(minutes=30):%H:%M}"

    @property
    def maintenance_window(self) -> str:
        """RDS's weekly maintenance window in UTC (``ddd:HH:MM-ddd:HH:MM``): an hour from two hours after the run
        starts on its first day, after the backup window and inside the run."""
        begin = self._utc(self.days[0], timedelta(hours=2))
        end = begin + timedelta(hours=1)
        return f"{begin:%a}:{begin:%H:%M}-{end:%a}:{end:%H:%M}".lower()

    @property
    def start_cron(self) -> str:
        return self.cron(self.start)

    @property
    def stop_cron(self) -> str:
        return self.cron(self.stop)


def _days(text: str) -> tuple[str, ...]:
    words = text.upper()
    if words == "DAILY":
        return DAYS
    if "-" in words:
        first, _, last = words.partition("-")
        if first not in DAYS or last not in DAYS or DAYS.index(last) <= DAYS.index(first):
            raise BadSchedule(f"days {text!r} must be a range of weekdays in week order, e.g. Mon-Fri")
        return DAYS[DAYS.index(first):DAYS.index(last) + 1]
    names = words.split(",")
    if any(name not in DAYS for name in names) or len(set(names)) != len(names):
        raise BadSchedule(f"days {text!r} must be daily, a range (Mon-Fri) or weekdays without repeats (Mon,Wed,Fri)")
    return tuple(sorted(names, key=DAYS.index))


def parse(text: str) -> RunSchedule:
    """The schedule ``text`` names, or ``BadSchedule`` saying what is wrong."""
    if not text.isprintable():
        raise BadSchedule("has a control character; write it on one line")
    match = _SHAPE.match(text)
    if not match:
        raise BadSchedule(f"is not a run schedule; {FORMAT}")
    start = (int(match["start"]), int(match["start_m"]))
    stop = (int(match["stop"]), int(match["stop_m"]))
    for hour, minute in (start, stop):
        if hour > 23 or minute > 59:
            raise BadSchedule(f"{hour:02d}:{minute:02d} is not a time of day (00:00 to 23:59)")
    if stop <= start:
        raise BadSchedule("the stop time must come after the start time on the same day")
    if (stop[0] * 60 + stop[1]) - (start[0] * 60 + start[1]) < MIN_RUN_HOURS * 60:
        raise BadSchedule(f"the instance must run at least {MIN_RUN_HOURS} hours a day (its daily backup runs "
                          "inside the run hours)")
    zone = match["zone"]
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise BadSchedule(f"{zone!r} is not an IANA time zone (e.g. Europe/Dublin, UTC)") from None
    return RunSchedule(days=_days(match["days"]), start=start, stop=stop, timezone=zone, text=text)
