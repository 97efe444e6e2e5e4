"""Builders for hand-crafted age files, for tests that need invalid or unusual ones."""

import itertools
import os
from collections.abc import Sequence

from cryptography.hazmat.primitives.ciphers.aead import ChaCha20Poly1305

from crypto.age import encrypt_bytes, generate_identity
from crypto.age_format import Stanza, build_header, parse_header
from crypto.age_keys import X25519Recipient
from crypto.age_stream import CHUNK_SIZE, NONCE_SIZE, TAG_SIZE, payload_key

ENC_CHUNK = CHUNK_SIZE + TAG_SIZE
ALICE = generate_identity()
BOB = generate_identity()
CAROL = generate_identity()
CHEAP_SCRYPT = 10  # scrypt work factor for tests: milliseconds, not a second


def encrypt_to(*pairs: tuple[str, str], size: int = 3 * CHUNK_SIZE + 100) -> tuple[bytes, bytes]:
    """(plaintext, ciphertext) of random data for the given (identity, recipient) pairs."""
    plaintext = os.urandom(size)
    return plaintext, encrypt_bytes(plaintext, [r for _, r in pairs])


def craft_file(
    recipient: str,
    chunks: Sequence[tuple[bytes, bool]],
    *,
    extra_stanzas: Sequence[Stanza] = (),
) -> bytes:
    """An age file whose payload chunks (plaintext, final flag) are exactly as given."""
    file_key = os.urandom(16)
    stanzas = [*extra_stanzas, X25519Recipient.from_str(recipient).wrap(file_key)]
    header = build_header(stanzas, file_key).encode()
    nonce = os.urandom(NONCE_SIZE)
    aead = ChaCha20Poly1305(payload_key(file_key, nonce))
    body = b"".join(
        aead.encrypt(i.to_bytes(11, "big") + (b"\x01" if final else b"\x00"), plain, None)
        for i, (plain, final) in enumerate(chunks)
    )
    return header + nonce + body


def payload_start(ciphertext: bytes) -> int:
    """Offset of the first payload chunk (after header and nonce)."""
    return parse_header(ciphertext)[1] + NONCE_SIZE


def split_chunks(ciphertext: bytes) -> tuple[bytes, list[bytes]]:
    """(header + nonce, [encrypted chunks])."""
    start = payload_start(ciphertext)
    body = ciphertext[start:]
    return ciphertext[:start], [body[i : i + ENC_CHUNK] for i in range(0, len(body), ENC_CHUNK)]


def replace_line(ciphertext: bytes, index: int, new: bytes) -> bytes:
    """Replace header line `index` (0 = version line)."""
    end = parse_header(ciphertext)[1]
    lines = ciphertext[:end].split(b"\n")
    lines[index] = new
    return b"\n".join(lines) + ciphertext[end:]


def header_lines(ciphertext: bytes) -> list[bytes]:
    end = parse_header(ciphertext)[1]
    return ciphertext[:end].split(b"\n")[:-1]


def swap_b64_char(line: bytes, pos: int) -> bytes:
    """Change one base64 character at `pos` to a different valid one."""
    new = b"B" if line[pos : pos + 1] == b"A" else b"A"
    return line[:pos] + new + line[pos + 1 :]


def split_at(data: bytes, cuts: Sequence[int]) -> list[bytes]:
    """`data` cut at the given offsets (taken modulo len + 1), for piecewise feeding."""
    points = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
    return [data[a:b] for a, b in itertools.pairwise(points)]
