"""Cron expressions of periodic jobs: the five standard fields, and when one next fires.

``Cron("0 3 * * *")`` reads minute, hour, day of month, month and day of
week (0-7, both 0 and 7 are Sunday), each ``*``, a number, a range
``a-b``, a step ``*/n`` or ``a-b/n``, or a list of these, ``1,15,30-40/5``.
As in Vixie cron, when both the day of month and the day of week are
restricted (neither is ``*``), a day matching either fires. No names
(``MON``, ``JAN``) and no ``@daily`` shortcuts. Written here, in a few
lines, so that periodic jobs need no new dependency.
"""

from datetime import timedelta


# (name, lowest, highest) of each field, in their order.
FIELDS = (
    ("minute", 0, 59),
    ("hour", 0, 23),
    ("day of month", 1, 31),
    ("month", 1, 12),
    ("day of week", 0, 7),
)
SEARCH_DAYS = 366 * 5  # past this, an expression never fires (``0 0 31 2 *``)


class CronError(ValueError):
    """An expression that is not five valid fields."""


class Cron:
    """A parsed cron expression; ``next_after(when)`` is its next time."""

    def __init__(self, expression):
        self.expression = expression
        fields = expression.split()
        if len(fields) != 5:
            raise CronError(f"a cron expression has 5 fields (minute hour day month weekday): {expression!r}")
        parsed = [_field(text, name, low, high) for text, (name, low, high) in zip(fields, FIELDS)]
        self.minutes, self.hours, self.days, self.months, weekdays = parsed
        self.weekdays = frozenset(day % 7 for day in weekdays)  # 7 is Sunday, as 0
        self.any_day = fields[2] == "*"
        self.any_weekday = fields[4] == "*"

    def __repr__(self):
        return f"Cron({self.expression!r})"

    def _day_matches(self, day):
        in_month = day.day in self.days
        in_week = (day.isoweekday() % 7) in self.weekdays  # isoweekday: Monday 1 .. Sunday 7
        if self.any_day or self.any_weekday:
            return in_month and in_week
        return in_month or in_week

    def next_after(self, when):
        """The first time after ``when`` (a datetime, naive or aware, kept so) that it fires, to the minute."""
        start = when.replace(second=0, microsecond=0) + timedelta(minutes=1)
        day = start.replace(hour=0, minute=0)
        for _ in range(SEARCH_DAYS):
            if day.month in self.months and self._day_matches(day):
                for hour in sorted(self.hours):
                    for minute in sorted(self.minutes):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate >= start:
                            return candidate
            day += timedelta(days=1)
        raise CronError(f"the cron expression never fires: {self.expression!r}")

    def last_at_or_before(self, when):
        """The last time at or before ``when`` that it fires (None: none in the years searched)."""
        end = when.replace(second=0, microsecond=0)
        day = end.replace(hour=0, minute=0)
        for _ in range(SEARCH_DAYS):
            if day.month in self.months and self._day_matches(day):
                for hour in sorted(self.hours, reverse=True):
                    for minute in sorted(self.minutes, reverse=True):
                        candidate = day.replace(hour=hour, minute=minute)
                        if candidate <= end:
                            return candidate
            day -= timedelta(days=1)
        return None


def _field(text, name, low, high):
    """The values of one field, a frozenset; CronError if it is not valid."""
    values = set()
    for part in text.split(","):
        values.update(_part(part, name, low, high))
    return frozenset(values)


def _part(part, name, low, high):
    body, _slash, step_text = part.partition("/")
    step = _number(step_text, name) if _slash else 1
    if step < 1:
        raise CronError(f"the step of the {name} must be at least 1: {part!r}")
    if body == "*":
        first, last = low, high
    elif "-" in body:
        first_text, _dash, last_text = body.partition("-")
        first, last = _number(first_text, name), _number(last_text, name)
    else:
        first = _number(body, name)
        last = high if _slash else first  # "5/15": from 5 on, as Vixie cron reads it
    if not low <= first <= last <= high:
        raise CronError(f"the {name} must be within {low}-{high}: {part!r}")
    return range(first, last + 1, step)


def _number(text, name):
    if not text.isdigit():
        raise CronError(f"the {name} is not a number: {text!r}")
    return int(text)
