import tracemalloc

import pytest
from hypothesis import given
from hypothesis import strategies as st

from crypto.errors import FormatError
from crypto.padding import Padder, Unpadder, pad, padme_length, unpad

from .util import split_at


@pytest.mark.parametrize(
    ("n", "expected"),
    [(0, 0), (1, 1), (2, 2), (3, 3), (7, 7), (8, 8), (9, 10), (17, 18), (100, 104), (1000, 1024)],
)
def test_padme_small_values(n: int, expected: int) -> None:
    assert padme_length(n) == expected


@given(st.integers(min_value=0, max_value=1 << 40))
def test_padme_bounds(n: int) -> None:
    length = padme_length(n)
    assert length >= n
    assert length - n <= max(1, n // 8)  # overhead is at most ~12%
    assert padme_length(length) == length  # idempotent


def test_padme_leaks_few_distinct_lengths() -> None:
    lengths = {padme_length(n) for n in range(1 << 20, 1 << 21)}
    assert len(lengths) == 33  # multiples of 2**15, vs. a million distinct raw lengths


def test_padme_rejects_negative() -> None:
    with pytest.raises(ValueError, match="non-negative"):
        padme_length(-1)


@given(st.binary(max_size=5000))
def test_pad_round_trip(data: bytes) -> None:
    padded = pad(data)
    assert len(padded) == padme_length(len(data) + 1)
    assert unpad(padded) == data


@pytest.mark.parametrize("bad", [b"", b"\x00\x00", b"abc", b"abc\x80\x01", b"\x81\x00"])
def test_unpad_rejects_missing_marker(bad: bytes) -> None:
    with pytest.raises(FormatError):
        unpad(bad)


def test_unpad_keeps_data_that_looks_like_padding() -> None:
    data = b"\x80\x00\x00\x80\x00"
    assert unpad(pad(data)) == data


@given(
    data=st.binary(max_size=3000)
    | st.lists(st.sampled_from([b"\x00", b"\x80", b"a", b"\x00" * 50])).map(b"".join),
    cuts=st.lists(st.integers(min_value=0), max_size=10),
)
def test_streaming_matches_one_shot(data: bytes, cuts: list[int]) -> None:
    padder = Padder()
    padded = b"".join([*(padder.update(p) for p in split_at(data, cuts)), padder.finish()])
    assert padded == pad(data)
    unpadder = Unpadder()
    out = b"".join([*(unpadder.update(p) for p in split_at(padded, cuts)), unpadder.finish()])
    assert out == data


def test_unpadder_rejects_streams_without_padding() -> None:
    for pieces in [[], [b"abc"], [b"\x80", b"\x00", b"a"], [b"\x00\x00"]]:
        unpadder = Unpadder()
        for piece in pieces:
            unpadder.update(piece)
        with pytest.raises(FormatError):
            unpadder.finish()


def test_unpadder_counts_zero_runs_instead_of_buffering_them() -> None:
    zeros = bytes(1 << 16)
    unpadder = Unpadder()
    assert unpadder.update(b"data\x80") == b"data"
    tracemalloc.start()
    try:
        for _ in range(256):  # 16 MiB of candidate padding
            assert unpadder.update(zeros) == b""
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 1 << 16
    assert unpadder.finish() == b""


def test_unpadder_releases_counted_zeros_when_they_were_data() -> None:
    unpadder = Unpadder()
    out = unpadder.update(b"\x80") + unpadder.update(bytes(200_000)) + unpadder.update(b"z\x80")
    assert out == b"\x80" + bytes(200_000) + b"z"
    assert unpadder.finish() == b""
    pieces = list(Unpadder().update_pieces(b"\x80"))
    assert pieces == []


def test_padder_emits_large_padding_in_bounded_pieces() -> None:
    padder = Padder()
    padder.update(bytes((1 << 24) + 1))
    pieces = list(padder.finish_pieces())
    assert max(len(p) for p in pieces) <= 1 << 16
    assert sum(len(p) for p in pieces) == padme_length((1 << 24) + 2) - (1 << 24) - 1


def test_finished_padders_refuse_more_work() -> None:
    padder, unpadder = Padder(), Unpadder()
    padder.finish()
    unpadder.update(b"\x80")
    unpadder.finish()
    with pytest.raises(RuntimeError):
        padder.update(b"x")
    with pytest.raises(RuntimeError):
        unpadder.update(b"x")
