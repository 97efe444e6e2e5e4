"""Registering agencies and where their tips are routed: the admin pages' and `probity agency add`
operations, audited; after the bootstrap a new agency or a new route is a request a supervisor
decides (service.access.changes)."""

from __future__ import annotations

import re
import uuid

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.changes import apply_route, file_request
from service.access.models import AdminRequest, RequestKind
from service.agencies.models import Agency
from service.audit.log import record
from service.compartments.bootstrap import bootstrap_open
from service.compartments.repository import get_compartment
from service.db import lock_for_write
from service.errors import Conflict, InvalidInput, NotFound

__all__ = ["OTHER_AGENCY", "add_agency", "add_agency_as", "route_agency"]

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


def add_agency_as(
    session: Session,
    actor: uuid.UUID | str,
    *,
    slug: str,
    name_en: str,
    name_es: str,
    compartment: str,
    country: str = "",
) -> AdminRequest | None:
    """Add an agency (admin pages and `probity agency add`). Once the bootstrap is over it is a
    new routing target, so it stays inactive - off the reporter form, no tips - until a
    supervisor approves the request returned here."""
    lock_for_write(session)  # SQLite: the write lock before reading what we change
    agency = add_agency(
        session,
        slug=slug,
        name_en=name_en,
        name_es=name_es,
        compartment=compartment,
        country=country,
    )
    pending = not bootstrap_open(session)
    agency.active = not pending
    record(
        session,
        actor=actor,
        action="agency.created",
        objects={"agency": agency.id, "compartment": agency.compartment_id},
        details={"slug": agency.slug, "active": agency.active},
    )
    if not pending:
        return None
    return file_request(
        session,
        kind=RequestKind.AGENCY_ADD,
        compartment_id=agency.compartment_id,
        agency_id=agency.id,
        actor=actor,
    )


def route_agency(
    session: Session, actor: uuid.UUID | str, *, slug: str, compartment: str
) -> AdminRequest | None:
    """Ask to send the agency's future tips to another compartment: a request a supervisor of
    that compartment (or of oversight) decides, returned here; at once only during the
    bootstrap. Tips already in stay (moving them is a four-eyes reroute)."""
    lock_for_write(session)  # SQLite: the write lock before reading what we change
    agency = session.scalar(select(Agency).where(Agency.slug == slug))
    if agency is None:
        raise NotFound(f"no agency {slug!r}")
    target = get_compartment(session, compartment)
    if agency.compartment_id == target.id:
        return None
    if bootstrap_open(session):
        apply_route(session, agency, target.id, actor=actor)
        return None
    return file_request(
        session,
        kind=RequestKind.AGENCY_ROUTE,
        compartment_id=target.id,
        previous=agency.compartment_id,
        agency_id=agency.id,
        actor=actor,
    )
