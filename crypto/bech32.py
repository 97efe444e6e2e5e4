"""Bech32 (BIP173) without the 90-character limit, as age uses for its key strings.

Hand-written: no bech32 implementation is available on top of `cryptography`.
"""

import base64

from .errors import FormatError

__all__ = ["decode", "encode"]

_CHARSET = "qpzry9x8gf2tvdw0s3jn54khce6mua7l"
_CHARSET_REV = {c: i for i, c in enumerate(_CHARSET)}
_GENERATOR = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
_CHECKSUM_LEN = 6


def _generator_mix(top: int) -> int:
    mixed = 0
    for i, g in enumerate(_GENERATOR):
        if (top >> i) & 1:
            mixed ^= g
    return mixed


# The generator XOR for each 5-bit top value, precomputed: intake derives keys on a hot path.
_MIX = tuple(_generator_mix(top) for top in range(32))


def _polymod(values: list[int]) -> int:
    chk = 1
    for v in values:
        chk = ((chk & 0x1FFFFFF) << 5 ^ v) ^ _MIX[chk >> 25]
    return chk


def _hrp_expand(hrp: str) -> list[int]:
    return [ord(c) >> 5 for c in hrp] + [0] + [ord(c) & 31 for c in hrp]


def _create_checksum(hrp: str, data: list[int]) -> list[int]:
    pm = _polymod([*_hrp_expand(hrp), *data, 0, 0, 0, 0, 0, 0]) ^ 1
    return [(pm >> 5 * (5 - i)) & 31 for i in range(_CHECKSUM_LEN)]


# RFC 4648 base32 groups bits exactly as bech32 does (big-endian, zero-padded at the end), so
# the C implementation does the regrouping; only the alphabet differs.
_BASE32 = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567"
_FROM_BASE32 = bytes.maketrans(_BASE32, _CHARSET.encode())
_VALUE = {c: i for i, c in enumerate(_CHARSET.encode())}


def _to_5bit(data: bytes) -> bytes:
    """`data` as bech32 characters (one per 5 bits)."""
    return base64.b32encode(data).rstrip(b"=").translate(_FROM_BASE32)


def _from_5bit(values: list[int]) -> bytes:
    out = bytearray()
    acc = bits = 0
    for v in values:
        acc = ((acc << 5) | v) & 0xFFF
        bits += 5
        if bits >= 8:
            bits -= 8
            out.append((acc >> bits) & 0xFF)
    # BIP173: at most 4 bits of padding, and they must be zero.
    if bits >= 5 or (acc << (8 - bits)) & 0xFF:
        raise FormatError("bech32: invalid padding")
    return bytes(out)


def _check_hrp(hrp: str) -> None:
    if not hrp:
        raise FormatError("bech32: empty human-readable part")
    if any(not 33 <= ord(c) <= 126 for c in hrp):
        raise FormatError("bech32: invalid character in human-readable part")


def encode(hrp: str, data: bytes) -> str:
    """Encode `data` under `hrp`; the result is uppercase if and only if `hrp` is."""
    _check_hrp(hrp)
    if hrp.lower() != hrp and hrp.upper() != hrp:
        raise FormatError("bech32: mixed-case human-readable part")
    lower = hrp.lower()
    chars = _to_5bit(data)
    checksum = _create_checksum(lower, [_VALUE[c] for c in chars])
    out = lower + "1" + chars.decode() + "".join(_CHARSET[v] for v in checksum)
    return out if hrp == lower else out.upper()


def decode(s: str) -> tuple[str, bytes]:
    """Decode a Bech32 string; returns the human-readable part as written, and the data."""
    if s.lower() != s and s.upper() != s:
        raise FormatError("bech32: mixed case")
    pos = s.rfind("1")
    if pos < 1 or pos + 1 + _CHECKSUM_LEN > len(s):
        raise FormatError("bech32: separator missing or misplaced")
    hrp = s[:pos]
    _check_hrp(hrp)
    try:
        values = [_CHARSET_REV[c] for c in s[pos + 1 :].lower()]
    except KeyError:
        raise FormatError("bech32: invalid character in data part") from None
    # The checksum is always computed over the lowercase form.
    if _polymod([*_hrp_expand(hrp.lower()), *values]) != 1:
        raise FormatError("bech32: invalid checksum")
    return hrp, _from_5bit(values[:-_CHECKSUM_LEN])
