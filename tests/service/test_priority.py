"""Priority at intake: flags, English and Spanish keywords, evidence, recency."""

from __future__ import annotations

from datetime import date

import pytest

from service.tips.priority import assess
from service.tips.schemas import TipSubmission

TODAY = date(2026, 11, 29)


def _tip(narrative: str, **extra: object) -> TipSubmission:
    return TipSubmission.model_validate(
        {"agency": "other", "allegations": ["other"], "narrative": narrative, **extra}
    )


@pytest.mark.parametrize(
    ("narrative", "expected"),
    [
        (
            "They will KILL the witness tonight, they carry AK-47s.",
            {"keyword:threat", "keyword:informant", "keyword:imminent_raid", "keyword:weapons"},
        ),
        (
            "Lo van a levantar; el comandante amenazó al soplón con un cuerno de chivo.",
            {"keyword:threat", "keyword:informant", "keyword:weapons"},
        ),
        (
            "Filtraron el cateo de mañana a la célula; habrá represalias contra la madrina.",
            {"keyword:imminent_raid", "keyword:informant"},
        ),
        ("Amenazas constantes al testigo protegido.", {"keyword:threat", "keyword:informant"}),
        ("The sergeant took cash and showed real skill at hiding it.", set()),
    ],
)
def test_keywords_in_english_and_spanish(narrative: str, expected: set[str]) -> None:
    reasons = set(assess(_tip(narrative), has_evidence=False, today=TODAY).reasons)
    assert {r for r in reasons if r.startswith("keyword:")} == expected


def test_flags_make_a_tip_urgent_and_weigh_in() -> None:
    calm = assess(_tip("A routine complaint about paperwork."), has_evidence=False, today=TODAY)
    assert (calm.score, calm.urgent, calm.reasons) == (0, False, [])
    risky = assess(
        _tip(
            "A routine complaint about paperwork.",
            reporter_at_risk=True,
            incident_date="2026-11-20",
        ),
        has_evidence=True,
        today=TODAY,
    )
    assert risky.urgent
    assert risky.reasons == ["reporter_at_risk", "evidence", "recent"]
    assert risky.score > calm.score


@pytest.mark.parametrize("when", ["2025-01", "sometime last year", "2026-13-45", None])
def test_old_or_vague_dates_are_not_recent(when: str | None) -> None:
    result = assess(_tip("x" * 30, incident_date=when), has_evidence=False, today=TODAY)
    assert "recent" not in result.reasons
