"""Date arithmetic in SQL that means the same on SQLite and PostgreSQL (for service.audit.stats),
and `compile_per_dialect` for such functions of one argument.

Imports SQLAlchemy only.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Any

from sqlalchemy import Date, Integer, and_, cast, func, literal, or_
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

__all__ = ["_day", "_day_diff", "_utc_date", "_within_months", "compile_per_dialect"]


def compile_per_dialect(function: type[FunctionElement[Any]], **templates: str) -> None:
    """Write `function(x)` as `templates[dialect].format(x)`, e.g. sqlite="date({})"."""
    for dialect, template in templates.items():
        compiles(function, dialect)(_from_template(template))


def _from_template(template: str) -> Callable[..., str]:
    def compile_one(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> str:
        return template.format(compiler.process(element.clauses, **kw))

    return compile_one


class _utc_date(FunctionElement[date]):
    """The UTC calendar date of a timezone-aware timestamp column (UTCDateTime binds UTC values,
    stored on SQLite as 'YYYY-MM-DD HH:MM:SS...' text)."""

    type = Date()
    inherit_cache = True


compile_per_dialect(_utc_date, sqlite="date({})", postgresql="CAST(timezone('UTC', {}) AS DATE)")


class _day_diff(FunctionElement[int]):
    """Whole days from the second date to the first."""

    type = Integer()
    inherit_cache = True


@compiles(_day_diff, "sqlite")
def _day_diff_sqlite(element: _day_diff, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return (
        f"CAST(julianday({compiler.process(later, **kw)}) - "
        f"julianday({compiler.process(earlier, **kw)}) AS INTEGER)"
    )


@compiles(_day_diff, "postgresql")
def _day_diff_pg(element: _day_diff, compiler: SQLCompiler, **kw: Any) -> str:
    later, earlier = list(element.clauses)
    return f"({compiler.process(later, **kw)} - {compiler.process(earlier, **kw)})"


def _day(value: date) -> ColumnElement[date]:
    # No CAST: SQLite would turn '2026-11-25' into the number 2026 (DATE has numeric affinity).
    return literal(value, Date())


def _month_index(day: ColumnElement[date]) -> ColumnElement[int]:
    return cast(func.extract("year", day) * 12 + func.extract("month", day), Integer)


def _day_of_month(day: ColumnElement[date]) -> ColumnElement[int]:
    return cast(func.extract("day", day), Integer)


def _within_months(
    later: ColumnElement[date], earlier: ColumnElement[date], months: int
) -> ColumnElement[bool]:
    """later <= earlier + months (calendar months, clamped to the month's end).

    Clamping never matters: with m whole months between the two month starts, later is within
    iff m < months, or m == months and later's day <= earlier's day.
    """
    gap = _month_index(later) - _month_index(earlier)
    return or_(gap < months, and_(gap == months, _day_of_month(later) <= _day_of_month(earlier)))


# ---- Results ----
