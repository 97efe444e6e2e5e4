"""RFC 9162 (2.1) Merkle tree over SHA-256: hashing, compact ranges, proof plans, verification.

A store keeps complete aligned subtrees, addressed as (level, index): node (L, i) covers the leaves
[i * 2**L, (i + 1) * 2**L), level 0 being the leaf hashes. Every node of the RFC tree over any
prefix [0, n) is either such a subtree or the right fold (`fold`) of the subtrees `subtrees(a, b)`
of its range, so a proof is a list of "plans": for each proof hash, the stored subtrees to fold.

Errors: `ProofError` for a proof that does not verify or asks for an index or size out of range.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from crypto.errors import ProofError

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "Plan",
    "ProofError",
    "TreeBuilder",
    "consistency_plan",
    "fold",
    "inclusion_plan",
    "leaf_hash",
    "node_hash",
    "root_plan",
    "subtrees",
    "verify_consistency",
    "verify_inclusion",
]

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()

# One entry per proof hash: the (level, index) subtrees whose fold is that hash.
Plan = list[list[tuple[int, int]]]

_sha256 = hashlib.sha256
_LEAF_PREFIX = hashlib.sha256(b"\x00")


def leaf_hash(data: bytes) -> bytes:
    h = _LEAF_PREFIX.copy()  # Saves copying `data` behind a prefix byte.
    h.update(data)
    return h.digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    return _sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2): the RFC's k."""
    return 1 << ((n - 1).bit_length() - 1)


def subtrees(start: int, end: int) -> list[tuple[int, int]]:
    """The maximal complete aligned subtrees covering [start, end), left to right."""
    if not 0 <= start <= end:
        raise ProofError("invalid leaf range")
    out: list[tuple[int, int]] = []
    while start < end:
        # The biggest block that is aligned at start and still fits before end.
        size = start & -start if start else 1 << (end.bit_length() - 1)
        while size > end - start:
            size >>= 1
        level = size.bit_length() - 1
        out.append((level, start >> level))
        start += size
    return out


def fold(hashes: Sequence[bytes]) -> bytes:
    """RFC hash of a range from its `subtrees` hashes: node_hash(h0, node_hash(h1, ...))."""
    if not hashes:
        return EMPTY_ROOT
    acc = hashes[-1]
    for h in reversed(hashes[:-1]):
        acc = node_hash(h, acc)
    return acc


def root_plan(size: int) -> list[tuple[int, int]]:
    """Subtrees whose fold is the root of the tree of `size` leaves."""
    return subtrees(0, size)


def inclusion_plan(index: int, size: int) -> Plan:
    """Plans of the RFC 9162 inclusion proof of leaf `index` in a tree of `size`, leaf first."""
    if not 0 <= index < size:
        raise ProofError("leaf index outside the tree")
    plan: Plan = []
    lo, hi = 0, size
    while hi - lo > 1:
        mid = lo + _split(hi - lo)
        if index < mid:
            plan.append(subtrees(mid, hi))
            hi = mid
        else:
            plan.append(subtrees(lo, mid))
            lo = mid
    plan.reverse()
    return plan


def consistency_plan(first: int, second: int) -> Plan:
    """Plans of the RFC 9162 consistency proof between tree sizes `first` <= `second`."""
    if not 0 <= first <= second:
        raise ProofError("tree sizes out of order")
    if first in (0, second):
        return []
    plan: Plan = []
    lo, hi, whole = 0, second, True
    while first < hi:
        mid = lo + _split(hi - lo)
        if first <= mid:
            plan.append(subtrees(mid, hi))
            hi = mid
        else:
            plan.append(subtrees(lo, mid))
            lo, whole = mid, False
    if not whole:
        # The old tree's last node is not a left spine node of the new tree: send it too.
        plan.append(subtrees(lo, hi))
    plan.reverse()
    return plan


class TreeBuilder:
    """Compact range over [0, size): the hashes of `subtrees(0, size)`, so O(log n) memory.

    `append` takes an entry's bytes (it computes the leaf hash); `append_hash` takes a leaf hash.
    Both return every node completed by the new leaf as (level, index, hash), level 0 first.
    """

    __slots__ = ("_hashes", "_levels", "size")

    def __init__(self, size: int = 0, right_edge: Sequence[bytes] = ()) -> None:
        if size < 0:
            raise ValueError("tree size must not be negative")
        nodes = subtrees(0, size)
        if len(right_edge) != len(nodes) or any(len(h) != HASH_SIZE for h in right_edge):
            raise ValueError("right edge must hold one 32-byte hash per subtree of [0, size)")
        self.size = size
        self._levels = [level for level, _ in nodes]
        self._hashes = list(right_edge)

    @property
    def right_edge(self) -> list[bytes]:
        """Hashes of `subtrees(0, size)`: what a store saves to resume later."""
        return list(self._hashes)

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        return self.append_hash(leaf_hash(leaf))

    def append_hash(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        done = [(0, self.size, leaf)]
        self._push(leaf, done)
        return done

    def add_hash(self, leaf: bytes) -> None:
        """`append_hash` without reporting the completed nodes: for verifiers, which keep none."""
        self._push(leaf, None)

    def _push(self, leaf: bytes, done: list[tuple[int, int, bytes]] | None) -> None:
        if len(leaf) != HASH_SIZE:
            raise ValueError("leaf hash must be 32 bytes")
        index = self.size
        levels, hashes, h, level = self._levels, self._hashes, leaf, 0
        # Merge equal-sized neighbours, like carrying in a binary increment.
        while levels and levels[-1] == level:
            levels.pop()
            h = node_hash(hashes.pop(), h)
            level += 1
            if done is not None:
                done.append((level, index >> level, h))
        levels.append(level)
        hashes.append(h)
        self.size = index + 1

    def root(self) -> bytes:
        return fold(self._hashes)


def _check_hash(value: bytes, what: str) -> None:
    if len(value) != HASH_SIZE:
        raise ProofError(f"{what} must be {HASH_SIZE} bytes")


def verify_inclusion(
    leaf: bytes, index: int, size: int, proof: Sequence[bytes], root: bytes
) -> None:
    """Check leaf hash `leaf` is at `index` in the tree of `size` and `root` (RFC 9162 2.1.3.2)."""
    _check_hash(leaf, "leaf hash")
    _check_hash(root, "root hash")
    for p in proof:
        _check_hash(p, "proof hash")
    if not 0 <= index < size:
        raise ProofError("leaf index outside the tree")
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            raise ProofError("inclusion proof is too long")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("inclusion proof is too short")
    if r != root:
        raise ProofError("inclusion proof does not lead to the root")


def verify_consistency(
    first: int, second: int, proof: Sequence[bytes], first_root: bytes, second_root: bytes
) -> None:
    """Check the tree of size `first` is a prefix of the tree of `second` (RFC 9162 2.1.4.2)."""
    _check_hash(first_root, "first root")
    _check_hash(second_root, "second root")
    for p in proof:
        _check_hash(p, "proof hash")
    if not 0 <= first <= second:
        raise ProofError("tree sizes out of order")
    if first == 0 or first == second:
        if proof:
            raise ProofError("consistency proof must be empty for these sizes")
        if first == 0 and first_root != EMPTY_ROOT:
            raise ProofError("the empty tree has another root")
        if first == second and first_root != second_root:
            raise ProofError("equal sizes with different roots")
        return
    if not proof:
        raise ProofError("consistency proof is empty")
    path = list(proof)
    if first & (first - 1) == 0:
        path.insert(0, first_root)  # The old root is a node of the new tree: the proof omits it.
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            raise ProofError("consistency proof is too long")
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    if sn != 0:
        raise ProofError("consistency proof is too short")
    if fr != first_root or sr != second_root:
        raise ProofError("consistency proof does not match the roots")
