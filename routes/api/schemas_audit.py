"""The audit zone's answers: log entries, proofs and the content-free statistics
(`service.audit.stats.as_json`: hidden small counts are null with their label "<3" or "*"; the
figures of one scope are the domain's own `Figures`, plain counts)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from service.audit.stats import Figures

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
