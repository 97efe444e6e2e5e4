"""Roots and proofs from the stored subtree hashes: one query per call, O(log n) rows.

The plans (which stored subtrees make up each proof hash) come from crypto.merkle, so the hashes
served here are exactly what crypto.merkle.verify_inclusion / verify_consistency expect.
"""

from __future__ import annotations

from sqlalchemy.orm import Session

from crypto.merkle import EMPTY_ROOT, consistency_plan, fold, inclusion_plan, subtrees
from service.audit.append import read_nodes
from service.audit.log import log_size
from service.errors import BadRange

__all__ = ["consistency", "inclusion", "root"]


def _check_size(session: Session, size: int) -> None:
    if size < 0 or size > log_size(session):
        raise BadRange("tree size is beyond the log")


def _fold_plan(session: Session, plan: list[list[tuple[int, int]]]) -> list[bytes]:
    nodes = read_nodes(session, [p for group in plan for p in group])
    return [fold([nodes[p] for p in group]) for group in plan]


def root(session: Session, size: int) -> bytes:
    """The Merkle root of the first `size` entries."""
    _check_size(session, size)
    if size == 0:
        return EMPTY_ROOT
    positions = subtrees(0, size)
    nodes = read_nodes(session, positions)
    return fold([nodes[p] for p in positions])


def inclusion(session: Session, index: int, tree_size: int) -> list[bytes]:
    """The RFC 9162 inclusion proof of entry `index` in the tree of `tree_size` entries."""
    if not 0 <= index < tree_size:
        raise BadRange("index must be below tree_size")
    _check_size(session, tree_size)
    return _fold_plan(session, inclusion_plan(index, tree_size))


def consistency(session: Session, first: int, second: int) -> list[bytes]:
    """The RFC 9162 consistency proof between the trees of `first` and `second` entries."""
    if not 0 <= first <= second:
        raise BadRange("need 0 <= first <= second")
    _check_size(session, second)
    return _fold_plan(session, consistency_plan(first, second))
