"""RFC 9162 Merkle tree: test vectors, plans against a naive recursive tree, forged proofs."""

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.errors import CryptoError, ProofError
from crypto.merkle import (
    EMPTY_ROOT,
    TreeBuilder,
    consistency_plan,
    fold,
    inclusion_plan,
    leaf_hash,
    node_hash,
    root_plan,
    subtrees,
    verify_consistency,
    verify_inclusion,
)
from tests.crypto.merkle_util import DATA, SparseTree, flip, from_plan, mth, node, path, subproof

# The eight leaves of the Certificate Transparency reference tests (RFC 6962 test vectors,
# as in github.com/transparency-dev/merkle proof/verify_test.go).
LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
# (index, size, proof): the Go vectors use 1-based leaf numbers; these are 0-based indices.
INCLUSION = [
    (0, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (5, 8, ["bc1a0643", "ca854ea1", "d37ee418"]),
    (2, 3, ["fac54203"]),
    (1, 5, ["6e340b9c", "5f083f0a", "bc1a0643"]),
]
CONSISTENCY = [
    (1, 8, ["96a296d2", "5f083f0a", "6b47aaf2"]),
    (6, 8, ["0ebc5d34", "ca854ea1", "d37ee418"]),
    (2, 5, ["5f083f0a", "bc1a0643"]),
    (6, 7, ["0ebc5d34", "b08693ec", "d37ee418"]),
]
FULL = {
    "96a296d2": "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
    "5f083f0a": "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
    "6b47aaf2": "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
    "bc1a0643": "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
    "ca854ea1": "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
    "d37ee418": "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "fac54203": "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "6e340b9c": "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "0ebc5d34": "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
    "b08693ec": "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
}


def _full(proof: list[str]) -> list[bytes]:
    return [bytes.fromhex(FULL[p]) for p in proof]


# --- RFC 6962 test vectors --------------------------------------------------------------------


def test_roots_of_the_reference_tree_match_rfc6962_vectors() -> None:
    builder = TreeBuilder()
    assert builder.root().hex() == ROOTS[0] == EMPTY_ROOT.hex()
    for size, leaf in enumerate(LEAVES, start=1):
        builder.append(leaf)
        assert builder.root().hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "proof"), INCLUSION)
def test_inclusion_vectors_verify_and_match_our_plans(index, size, proof) -> None:
    hashes = [leaf_hash(x) for x in LEAVES]
    root = bytes.fromhex(ROOTS[size])
    verify_inclusion(hashes[index], index, size, _full(proof), root)
    ours = [_fold_leaves(hashes, plan) for plan in inclusion_plan(index, size)]
    assert ours == _full(proof)


@pytest.mark.parametrize(("first", "second", "proof"), CONSISTENCY)
def test_consistency_vectors_verify_and_match_our_plans(first, second, proof) -> None:
    hashes = [leaf_hash(x) for x in LEAVES]
    roots = bytes.fromhex(ROOTS[first]), bytes.fromhex(ROOTS[second])
    verify_consistency(first, second, _full(proof), *roots)
    ours = [_fold_leaves(hashes, plan) for plan in consistency_plan(first, second)]
    assert ours == _full(proof)


def _fold_leaves(hashes: list[bytes], plan: list[tuple[int, int]]) -> bytes:
    def sub(level: int, index: int) -> bytes:
        if level == 0:
            return hashes[index]
        return node_hash(sub(level - 1, 2 * index), sub(level - 1, 2 * index + 1))

    return fold([sub(level, index) for level, index in plan])


def test_leaf_and_node_hashes_are_domain_separated() -> None:
    assert leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    assert (
        node_hash(b"a" * 32, b"b" * 32) == hashlib.sha256(b"\x01" + b"a" * 32 + b"b" * 32).digest()
    )
    assert ProofError.__mro__[1] is CryptoError


# --- every proof of every tree up to 100 leaves, against the naive tree -----------------------


def test_every_inclusion_proof_up_to_100_leaves_round_trips() -> None:
    for size in range(1, 101):
        root = mth(0, size)
        assert fold([node(level, i) for level, i in root_plan(size)]) == root
        for index in range(size):
            proof = from_plan(inclusion_plan(index, size))
            assert proof == path(index, 0, size)
            verify_inclusion(mth(index, index + 1), index, size, proof, root)


def test_every_consistency_proof_up_to_100_leaves_round_trips() -> None:
    for second in range(1, 101):
        for first in range(1, second + 1):
            proof = from_plan(consistency_plan(first, second))
            expected = [] if first == second else subproof(first, 0, second, True)
            assert proof == expected
            verify_consistency(first, second, proof, mth(0, first), mth(0, second))


def _inclusion_forgeries(index: int, size: int, proof: list[bytes], root: bytes, leaf: bytes):
    yield leaf, index + 1, size, proof, root
    yield leaf, index ^ 2, size, proof, root
    if index:
        yield leaf, index - 1, size, proof, root
    yield leaf, index, size * 2, proof, root
    yield leaf, index, size // 2, proof, root
    yield hashlib.sha256(b"wrong").digest(), index, size, proof, root
    yield leaf, index, size, proof, EMPTY_ROOT
    yield leaf, index, size, [*proof, root], root
    yield leaf, index, size, [root, *proof], root
    yield leaf, index, size, [*proof, b""], root
    for i in range(len(proof)):
        yield leaf, index, size, flip(proof, i), root
    if proof:
        yield leaf, index, size, proof[:-1], root
        yield leaf, index, size, proof[1:], root


def test_forged_inclusion_proofs_fail_for_every_tree_up_to_100_leaves() -> None:
    for size in range(1, 101):
        root = mth(0, size)
        for index in range(size):
            proof = path(index, 0, size)
            leaf = mth(index, index + 1)
            for forged in _inclusion_forgeries(index, size, proof, root, leaf):
                with pytest.raises(ProofError):
                    verify_inclusion(*forged)


def _consistency_forgeries(first: int, second: int, proof: list[bytes]):
    # Not size + 1: a proof for n also "proves" n + 1 against the same (then wrong) root.
    r1, r2 = mth(0, first), mth(0, second)
    yield first - 1, second, proof, r1, r2
    yield first + 1, second, proof, r1, r2
    yield first ^ 2, second, proof, r1, r2
    yield first, second * 2, proof, r1, r2
    yield first, second // 2, proof, r1, r2
    yield first, second, proof, r2, r1
    yield first, second, proof, EMPTY_ROOT, r2
    yield first, second, proof, r1, EMPTY_ROOT
    yield first, second, [], r1, r2
    yield first, second, [*proof, r1], r1, r2
    yield first, second, [*proof, r2], r1, r2
    yield first, second, [r1, *proof], r1, r2
    yield first, second, [proof[0], *proof], r1, r2
    yield first, second, proof[:-1], r1, r2
    yield first, second, proof[1:], r1, r2
    for i in range(len(proof)):
        yield first, second, flip(proof, i), r1, r2


def test_forged_consistency_proofs_fail_for_every_pair_up_to_100_leaves() -> None:
    for second in range(2, 101):
        for first in range(1, second):
            proof = subproof(first, 0, second, True)
            for forged in _consistency_forgeries(first, second, proof):
                with pytest.raises(ProofError):
                    verify_consistency(*forged)


# --- edge cases of the verification algorithms -------------------------------------------------


@pytest.mark.parametrize(("index", "size"), [(0, 0), (1, 0), (1, 1), (2, 1), (-1, 4), (5, 5)])
def test_inclusion_outside_the_tree_is_refused(index: int, size: int) -> None:
    with pytest.raises(ProofError):
        verify_inclusion(leaf_hash(b"x"), index, size, [], leaf_hash(b"x"))
    with pytest.raises(ProofError):
        inclusion_plan(index, size)


def test_single_leaf_tree_proves_with_an_empty_proof_and_rejects_bad_lengths() -> None:
    h = leaf_hash(b"data")
    verify_inclusion(h, 0, 1, [], h)
    for leaf, root in [(h, b""), (b"", h), (h[:31], h[:31]), (h + b"\x00", h + b"\x00")]:
        with pytest.raises(ProofError):
            verify_inclusion(leaf, 0, 1, [], root)


def test_trivial_consistency_cases() -> None:
    a, b = mth(0, 3), mth(0, 5)
    verify_consistency(0, 0, [], EMPTY_ROOT, EMPTY_ROOT)
    verify_consistency(0, 5, [], EMPTY_ROOT, b)
    verify_consistency(3, 3, [], a, a)
    assert consistency_plan(0, 5) == consistency_plan(3, 3) == []
    for args in [
        (3, 3, [], a, b),  # equal sizes, different roots
        (0, 5, [], a, b),  # the empty tree has one root
        (0, 5, [a], EMPTY_ROOT, b),  # proof must be empty
        (3, 3, [a], a, a),
        (5, 3, [], b, a),  # time travel
        (3, 5, [], a, b),  # empty proof for a real step
        (-1, 5, [], a, b),
    ]:
        with pytest.raises(ProofError):
            verify_consistency(*args)
    with pytest.raises(ProofError):
        consistency_plan(5, 3)


def test_proof_hashes_of_the_wrong_length_are_refused() -> None:
    proof = path(3, 0, 7)
    with pytest.raises(ProofError):
        verify_inclusion(mth(3, 4), 3, 7, [*proof[:-1], proof[-1][:31]], mth(0, 7))
    cproof = subproof(3, 0, 7, True)
    with pytest.raises(ProofError):
        verify_consistency(3, 7, [*cproof[:-1], cproof[-1] + b"\x00"], mth(0, 3), mth(0, 7))


# --- compact ranges -----------------------------------------------------------------------------


@settings(deadline=None)
@given(st.integers(0, 10**6), st.integers(0, 10**6))
def test_subtrees_cover_the_range_with_maximal_aligned_blocks(a: int, b: int) -> None:
    start, end = min(a, b), max(a, b)
    pos = start
    for level, index in subtrees(start, end):
        assert index << level == pos  # contiguous and aligned
        pos += 1 << level
        # Maximal: the parent block either is misaligned here or would overrun the range.
        parent = level + 1
        assert pos > end or (index & 1) or ((index >> 1) + 1) << parent > end
    assert pos == end


def test_subtrees_of_a_bad_range_are_refused() -> None:
    with pytest.raises(ProofError):
        subtrees(5, 3)
    with pytest.raises(ProofError):
        subtrees(-1, 3)


def test_fold_of_any_rfc_node_range_is_its_hash() -> None:
    # Every node of the RFC tree over [0, n) is [i * 2**L, min((i + 1) * 2**L, n)).
    for n in range(1, 130):
        level = 0
        while 1 << level < 2 * n:
            for i in range(0, (n + (1 << level) - 1) >> level):
                lo, hi = i << level, min((i + 1) << level, n)
                assert fold([node(lv, ix) for lv, ix in subtrees(lo, hi)]) == mth(lo, hi)
            level += 1
    assert fold([]) == EMPTY_ROOT


def test_tree_builder_reports_every_completed_node() -> None:
    builder = TreeBuilder()
    seen: set[tuple[int, int]] = set()
    for i in range(130):
        done = builder.append(DATA[i])
        assert done[0] == (0, i, mth(i, i + 1))
        for level, index, h in done:
            assert h == node(level, index)
            seen.add((level, index))
        assert builder.root() == mth(0, i + 1)
        assert builder.right_edge == [node(lv, ix) for lv, ix in subtrees(0, i + 1)]
    complete = {(lv, ix) for lv in range(8) for ix in range(130 >> lv)}
    assert seen == complete


@settings(max_examples=60, deadline=None)
@given(st.integers(0, 129), st.integers(0, 129))
def test_tree_builder_resumed_from_a_right_edge_equals_building_from_scratch(
    a: int, b: int
) -> None:
    start, end = min(a, b), max(a, b)
    resumed = TreeBuilder(start, [node(lv, ix) for lv, ix in subtrees(0, start)])
    scratch = TreeBuilder()
    for i in range(start):
        scratch.append(DATA[i])
    for i in range(start, end):
        assert resumed.append(DATA[i]) == scratch.append(DATA[i])
    assert resumed.size == scratch.size == end
    assert resumed.root() == scratch.root() == mth(0, end)


def test_tree_builder_refuses_a_right_edge_of_the_wrong_shape() -> None:
    with pytest.raises(ValueError, match="right edge"):
        TreeBuilder(3, [mth(0, 2)])
    with pytest.raises(ValueError, match="right edge"):
        TreeBuilder(1, [b"short"])
    with pytest.raises(ValueError, match="32 bytes"):
        TreeBuilder().append_hash(b"short")
    with pytest.raises(ValueError, match="negative"):
        TreeBuilder(-1)


# --- properties over bigger trees ---------------------------------------------------------------


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_inclusion_proofs_in_large_trees_verify_and_forgeries_fail(data: st.DataObject) -> None:
    size = data.draw(st.integers(2, 2**40))
    index = data.draw(st.integers(0, size - 1))
    other = data.draw(st.integers(0, size - 1).filter(lambda x: x != index))
    tree = SparseTree([index, other, size - 1])
    proof = tree.proof(inclusion_plan(index, size))
    leaf, root = tree.node(0, index), tree.root(size)
    verify_inclusion(leaf, index, size, proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(leaf, other, size, proof, root)
    with pytest.raises(ProofError):
        verify_inclusion(tree.node(0, other), index, size, proof, root)
    i = data.draw(st.integers(0, len(proof) - 1))
    with pytest.raises(ProofError):
        verify_inclusion(leaf, index, size, flip(proof, i), root)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_consistency_proofs_in_large_trees_verify_and_forgeries_fail(data: st.DataObject) -> None:
    second = data.draw(st.integers(2, 2**40))
    first = data.draw(st.integers(1, second - 1))
    tree = SparseTree([first - 1, first, second - 1])
    proof = tree.proof(consistency_plan(first, second))
    r1, r2 = tree.root(first), tree.root(second)
    verify_consistency(first, second, proof, r1, r2)
    i = data.draw(st.integers(0, len(proof) - 1))
    for forged in [
        (first, second, flip(proof, i), r1, r2),
        (first, second, [*proof, r1], r1, r2),
        (first, second, proof[:-1], r1, r2),
        (first, second, proof, r1, tree.root(second + 1)),
        (first, second, proof, tree.root(first - 1), r2),
    ]:
        with pytest.raises(ProofError):
            verify_consistency(*forged)
