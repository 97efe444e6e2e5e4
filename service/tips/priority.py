"""Priority computed at intake from what the reporter said, with its reasons.

Keywords are matched on accent-free lowercase text in English and Spanish. The reasons quote
the report's substance, so they are stored encrypted to the case key; only the score and the
urgent flag are clear, because queues sort by them.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field
from datetime import date

from service.tips.schemas import TipSubmission

__all__ = ["KEYWORDS", "Priority", "assess"]

KEYWORDS: dict[str, tuple[str, ...]] = {
    "threat": (
        r"kill", r"murder", r"threat", r"hurt", r"disappear", r"kidnap",
        r"matar", r"mataran", r"asesin", r"amenaz", r"levanton", r"desaparec", r"secuestr",
    ),
    "weapons": (
        r"gun", r"rifle", r"weapon", r"firearm", r"ammunition", r"grenade", r"ak-?47",
        r"arma", r"fusil", r"pistola", r"cuerno de chivo", r"granada", r"municion",
    ),
    "imminent_raid": (
        r"raid", r"tonight", r"tomorrow", r"this week",
        r"operativo", r"redada", r"cateo", r"esta noche", r"manana", r"esta semana",
    ),
    "informant": (
        r"informant", r"snitch", r"witness", r"confidential source",
        r"informante", r"soplon", r"testigo", r"madrina", r"fuente confidencial",
    ),
}  # fmt: skip
# One pattern per reason: `search` stops at the first hit, cheaper than one scan for all.
_PATTERNS = {
    reason: re.compile(r"\b(?:" + "|".join(words) + r")", re.IGNORECASE)
    for reason, words in KEYWORDS.items()
}
WEIGHTS = {
    "threat_to_life": 50,
    "reporter_at_risk": 40,
    "senior_official": 20,
    "keyword:threat": 15,
    "keyword:weapons": 10,
    "keyword:imminent_raid": 15,
    "keyword:informant": 15,
    "named_subjects": 5,
    "evidence": 10,
    "recent": 10,
}


@dataclass(frozen=True)
class Priority:
    score: int
    urgent: bool
    reasons: list[str] = field(default_factory=list)


def _fold(text: str) -> str:
    # Decompose, then drop what is not ASCII: accents go, "mañana" becomes "manana".
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def _recent(approximate: str | None, today: date) -> bool:
    match = re.search(r"(\d{4})-(\d{2})(?:-(\d{2}))?", approximate or "")
    if not match:
        return False
    try:
        when = date(int(match[1]), int(match[2]), int(match[3] or 1))
    except ValueError:
        return False
    return 0 <= (today - when).days <= 31


def assess(submission: TipSubmission, *, has_evidence: bool, today: date) -> Priority:
    reasons = [
        flag
        for flag in ("threat_to_life", "reporter_at_risk", "senior_official")
        if getattr(submission, flag)
    ]
    text = _fold(" ".join([submission.narrative, submission.location or ""]))
    reasons += [f"keyword:{name}" for name, pattern in _PATTERNS.items() if pattern.search(text)]
    if submission.subjects:
        reasons.append("named_subjects")
    if has_evidence:
        reasons.append("evidence")
    if _recent(submission.incident_date, today):
        reasons.append("recent")
    urgent = submission.threat_to_life or submission.reporter_at_risk
    return Priority(score=sum(WEIGHTS[r] for r in reasons), urgent=urgent, reasons=reasons)
