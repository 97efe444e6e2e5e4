"""Registering agencies and where their tips are routed."""

from __future__ import annotations

import re

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.agencies.models import Agency
from service.compartments.service import get_compartment
from service.errors import Conflict, InvalidInput

__all__ = ["OTHER_AGENCY", "add_agency"]

# Reserved: a reporter who does not know or cannot name the agency.
OTHER_AGENCY = "other"
_SLUG = re.compile(r"[a-z0-9][a-z0-9-]{1,63}")


def add_agency(
    session: Session,
    *,
    slug: str,
    name_en: str,
    name_es: str,
    compartment: str,
    country: str = "",
) -> Agency:
    if not _SLUG.fullmatch(slug) or slug == OTHER_AGENCY:
        raise InvalidInput(
            "agency slug must be 2-64 lowercase letters, digits or '-' (and not 'other')"
        )
    name_en, name_es, country = name_en.strip(), name_es.strip(), country.strip().upper()
    if not (0 < len(name_en) <= 200 and 0 < len(name_es) <= 200):
        raise InvalidInput("agency names must be 1-200 characters in both languages")
    if country and not re.fullmatch(r"[A-Z]{2}", country):
        raise InvalidInput("country must be a two-letter code such as US or MX")
    if session.scalar(select(Agency.id).where(Agency.slug == slug)) is not None:
        raise Conflict(f"agency {slug!r} already exists")
    target = get_compartment(session, compartment)
    agency = Agency(
        slug=slug, name_en=name_en, name_es=name_es, country=country, compartment_id=target.id
    )
    session.add(agency)
    session.flush()
    return agency
