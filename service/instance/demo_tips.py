"""Sample tips for a demo instance, filed through the real intake so the staff queue has work.
Invented people and places; never real reports."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.config import Settings
from service.instance.context import load_context
from service.tips.intake import submit_tip
from service.tips.models import Tip
from service.tips.schemas import TipSubmission

__all__ = ["DEMO_TIPS", "ensure_demo_tips"]

DEMO_TIPS: list[dict[str, object]] = [
    {
        "agency": "el-paso-pd",
        "allegations": ["bribery", "armed_escort"],
        "narrative": "(Demo) A patrol sergeant on the night shift waves two box trucks through the "
        "Zaragoza checkpoint every Thursday and meets the drivers afterwards at a gas station.",
        "subjects": [{"name": "Demo Sergeant Alvarez", "badge": "0000", "unit": "Demo Unit 1"}],
        "incident_date": "2026-11",
        "location": "Demo checkpoint",
    },
    {
        "agency": "tijuana-municipal",
        "allegations": ["leaking", "extortion"],
        "narrative": "(Demo) El comandante del sector avisa a la gente del cártel antes de cada "
        "operativo y amenazó al testigo que lo vio. Temo por mi vida.",
        "subjects": [{"name": "Comandante Demo", "rank": "Comandante", "unit": "Sector Demo"}],
        "threat_to_life": True,
        "reporter_at_risk": True,
        "language": "es",
    },
    {
        "agency": "other",
        "allegations": ["misuse_surveillance"],
        "narrative": "(Demo) Someone in records looks up licence plates for people outside the "
        "department and sends screenshots over a messaging app.",
        "contact": "(Demo) reachable through the demo contact channel",
    },
]


def ensure_demo_tips(session: Session, settings: Settings) -> int:
    """File the sample tips once (only into an instance without tips); returns how many."""
    if session.scalar(select(func.count()).select_from(Tip)):
        return 0
    ctx = load_context(session, settings)
    for body in DEMO_TIPS:
        submit_tip(session, ctx, TipSubmission.model_validate(body))
    return len(DEMO_TIPS)
