"""Queries on agencies: the admin listing."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.agencies.models import Agency
from service.compartments.models import Compartment

__all__ = ["AgencyRow", "list_agencies"]


@dataclass(frozen=True)
class AgencyRow:
    slug: str
    name_en: str
    name_es: str
    country: str
    compartment: str
    active: bool


def list_agencies(session: Session) -> list[AgencyRow]:
    rows = session.execute(
        select(Agency, Compartment.name)
        .join(Compartment, Compartment.id == Agency.compartment_id)
        .order_by(Agency.slug)
    )
    return [AgencyRow(a.slug, a.name_en, a.name_es, a.country, name, a.active) for a, name in rows]
