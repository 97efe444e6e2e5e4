"""The offline recovery key as the key holder of last resort.

Queued rewrites need someone who holds the tip's keys. Two cases have nobody: a tip whose only
reader was removed by a conflict that could not hand it on (conflicts win over availability; such
tips are listed by service.access.readerless until this runs), and a tip whose audience has no
supervisor to apply changes. An operator who brings the recovery key (never stored on the
server) runs `probity access recover`: every pending change is applied with the recovery identity,
and every tip still left with no reader is rerouted to the oversight compartment's eligible
members. Each rewrite and move is audited with `by_recovery`; a queued removal and every move
rotate the tip's keys (service.access.rotation), so the one who left keeps nothing usable.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.access.envelopes import lock_tips, tip_subjects
from service.access.models import PendingAccessChange
from service.access.readerless import readerless_query
from service.access.rewrite import move_tip, plan_tip, write_plans
from service.compartments.models import Compartment
from service.db import lock_for_write
from service.errors import NotInitialised
from service.tips.models import Tip
from service.tips.routing import eligible_readers

__all__ = ["RecoveryOutcome", "recover_with_key"]


@dataclass(frozen=True)
class RecoveryOutcome:
    rewritten: int  # tips whose pending changes were applied
    rerouted: int  # tips that had no reader and went to oversight
    still_without_reader: int  # oversight had nobody eligible either


def _readerless(session: Session) -> list[Tip]:
    return sorted(session.scalars(readerless_query()), key=lambda t: str(t.id))


def recover_with_key(session: Session, *, recovery_identity: str) -> RecoveryOutcome:
    """Apply every pending change and reroute reader-less tips, with the recovery identity."""
    lock_for_write(session)
    pending = sorted(set(session.scalars(select(PendingAccessChange.tip_id))), key=str)
    lock_tips(session, pending)
    plans = [plan_tip(session, t, recovery_identity) for t in pending]
    write_plans(session, plans, actor="system", by_recovery=True)
    stranded = _readerless(session)
    lock_tips(session, [t.id for t in stranded])
    oversight = session.scalars(select(Compartment).where(Compartment.oversight)).first()
    if oversight is None:
        raise NotInitialised("no oversight compartment; run `probity init`")
    moved = left = 0
    for tip in stranded:
        readers = eligible_readers(session, oversight.id, tip_subjects(session, tip.id))
        if not readers:  # nobody eligible in oversight either: left for a later run
            left += 1
            continue
        move_tip(session, tip, oversight, recovery_identity, actor="system", by_recovery=True)
        moved += 1
    return RecoveryOutcome(rewritten=len(plans), rerouted=moved, still_without_reader=left)
