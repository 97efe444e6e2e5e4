"""Reference trees for the Merkle tests: a naive tree written straight from the RFC 9162
recursive definitions, and a huge sparse tree whose nodes are cheap to compute."""

import bisect
import functools
import hashlib
from collections.abc import Sequence

from crypto.merkle import fold, leaf_hash, node_hash, root_plan

DATA = [b"leaf %d" % i for i in range(130)]


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@functools.cache
def mth(lo: int, hi: int) -> bytes:
    if hi == lo:
        return hashlib.sha256(b"").digest()
    if hi - lo == 1:
        return hashlib.sha256(b"\x00" + DATA[lo]).digest()
    k = _k(hi - lo)
    return hashlib.sha256(b"\x01" + mth(lo, lo + k) + mth(lo + k, hi)).digest()


def path(m: int, lo: int, hi: int) -> list[bytes]:
    if hi - lo == 1:
        return []
    k = _k(hi - lo)
    if m < k:
        return [*path(m, lo, lo + k), mth(lo + k, hi)]
    return [*path(m - k, lo + k, hi), mth(lo, lo + k)]


def subproof(m: int, lo: int, hi: int, whole: bool) -> list[bytes]:
    n = hi - lo
    if m == n:
        return [] if whole else [mth(lo, hi)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, lo, lo + k, whole), mth(lo + k, hi)]
    return [*subproof(m - k, lo + k, hi, False), mth(lo, lo + k)]


def node(level: int, index: int) -> bytes:
    return mth(index << level, (index + 1) << level)


def from_plan(plan: list[list[tuple[int, int]]]) -> list[bytes]:
    return [fold([node(level, index) for level, index in hashes]) for hashes in plan]


def flip(proof: Sequence[bytes], i: int) -> list[bytes]:
    out = list(proof)
    out[i] = bytes([out[i][0] ^ 8]) + out[i][1:]
    return out


_CONSTANT = [leaf_hash(b"")]
for _ in range(64):
    _CONSTANT.append(node_hash(_CONSTANT[-1], _CONSTANT[-1]))


class SparseTree:
    """A huge tree whose leaves are all equal except a few special ones, so any node costs
    O(depth * specials) to compute."""

    def __init__(self, special: Sequence[int]) -> None:
        self.special = sorted(set(special))
        self.cache: dict[tuple[int, int], bytes] = {}

    def node(self, level: int, index: int) -> bytes:
        lo, hi = index << level, (index + 1) << level
        at = bisect.bisect_left(self.special, lo)
        if at == len(self.special) or self.special[at] >= hi:
            return _CONSTANT[level]
        if level == 0:
            return leaf_hash(b"special %d" % index)
        if (level, index) not in self.cache:
            left, right = self.node(level - 1, 2 * index), self.node(level - 1, 2 * index + 1)
            self.cache[level, index] = node_hash(left, right)
        return self.cache[level, index]

    def proof(self, plan: list[list[tuple[int, int]]]) -> list[bytes]:
        return [fold([self.node(lv, ix) for lv, ix in hashes]) for hashes in plan]

    def root(self, size: int) -> bytes:
        return fold([self.node(lv, ix) for lv, ix in root_plan(size)])
