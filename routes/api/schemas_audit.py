"""The audit zone's answers: log entries, proofs and the content-free statistics
(`service.audit.stats.as_json`: hidden small counts are null with their label "<3" or "*")."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["Consistency", "Entry", "Inclusion", "Statistics"]


class Entry(BaseModel):
    index: int
    time: str  # "2026-11-30T12:00:00Z", or a date for reporter-caused entries
    actor: str
    action: str
    tip: str | None
    objects: dict[str, str]
    details: dict[str, Any]
    canonical: str  # base64 of the signed bytes


class Inclusion(BaseModel):
    index: int
    tree_size: int
    hashes: list[str]  # base64
    tlog_proof: str | None  # C2SP tlog-proof text when a checkpoint of `tree_size` is signed


class Consistency(BaseModel):
    first: int
    second: int
    hashes: list[str]  # base64


class AckTimes(BaseModel):
    count: int
    median: int | float | None  # days; a half day when the count is even
    p90: int | None


class Deadline(BaseModel):
    on_time: int
    late: int
    open_overdue: int
    open_in_time: int


class Figures(BaseModel):
    tips: int
    ack_times: AckTimes
    acknowledgement: Deadline
    feedback: Deadline
    closures_by_reason: dict[str, int]
    findings: dict[str, int]
    open_by_status: dict[str, int]


class Week(BaseModel):
    week: str  # ISO week, "2026-W48"
    start: str
    count: int | None
    label: str


class CompartmentFigures(BaseModel):
    id: str
    name: str
    figures: Figures
    weekly: list[Week]


class Cell(BaseModel):
    count: int | None
    label: str


class ClosureTotal(BaseModel):
    closures: Cell
    contested: Cell


class CompartmentClosures(ClosureTotal):
    compartment: str | None


class ReviewerClosures(ClosureTotal):
    reviewer: str | None


class Closures(BaseModel):
    total: ClosureTotal
    by_compartment: list[CompartmentClosures]
    by_reviewer: list[ReviewerClosures]


class Statistics(BaseModel):
    today: str
    weeks: int
    k: int
    overall: Figures
    weekly: list[Week]
    compartments: list[CompartmentFigures]
    closures: Closures | None
