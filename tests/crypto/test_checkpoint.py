"""C2SP tlog-checkpoint bodies and tlog-proof inclusion proofs."""

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crypto.checkpoint import (
    PROOF_HEADER,
    Checkpoint,
    format_body,
    format_inclusion_proof,
    open_checkpoint,
    open_inclusion_proof,
    parse_body,
    parse_inclusion_proof,
    sign_checkpoint,
)
from crypto.errors import CheckpointError, FormatError, ProofError
from crypto.merkle import TreeBuilder, fold, inclusion_plan, leaf_hash
from crypto.note import generate_signer, sign_note

SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
ORIGIN = "probity.example/audit"
SIGNER = generate_signer(ORIGIN)


def test_spec_example_body_parses_and_formats_back_identically() -> None:
    cp = parse_body(SPEC_BODY)
    assert cp.origin == "example.com/behind-the-sofa"
    assert cp.size == 20852163
    assert cp.root == base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=")
    assert cp.extensions == ()
    assert format_body(cp) == SPEC_BODY


def test_empty_tree_and_extension_lines_round_trip() -> None:
    empty = Checkpoint(ORIGIN, 0, bytes(32))
    assert format_body(empty).split("\n")[1] == "0"
    with_ext = Checkpoint(ORIGIN, 5, bytes(range(32)), ("ext one", "ext two"))
    text = format_body(with_ext)
    assert text.endswith("ext one\next two\n")
    assert parse_body(text) == with_ext


@settings(deadline=None)
@given(
    origin=st.text(
        st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40
    ).filter(lambda s: "\n" not in s),
    size=st.integers(0, 2**64 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(
        st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20),
        max_size=3,
    ),
)
def test_any_checkpoint_round_trips_through_its_body(origin, size, root, extensions) -> None:
    cp = Checkpoint(origin, size, root, tuple(extensions))
    assert parse_body(format_body(cp)) == cp


MALFORMED = {
    "no final newline": SPEC_BODY[:-1],
    "blank line at the end": SPEC_BODY + "\n",
    "two lines only": "example.com/log\n5\n",
    "empty origin": "\n5\n" + SPEC_BODY.split("\n")[2] + "\n",
    "leading zero": SPEC_BODY.replace("20852163", "020852163"),
    "plus sign": SPEC_BODY.replace("20852163", "+20852163"),
    "negative": SPEC_BODY.replace("20852163", "-1"),
    "spaces around size": SPEC_BODY.replace("20852163", " 20852163"),
    "non-ascii digits": SPEC_BODY.replace("20852163", "\u0662\u0660"),
    "hex size": SPEC_BODY.replace("20852163", "0x10"),
    "size over uint64": SPEC_BODY.replace("20852163", str(2**64)),
    "root of 31 bytes": SPEC_BODY.replace(
        "CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", base64.b64encode(bytes(31)).decode()
    ),
    "root without padding": SPEC_BODY.replace("q2I=", "q2I"),
    "non-canonical root": SPEC_BODY.replace("q2I=", "q2J="),
    "url-safe root": SPEC_BODY.replace("m/X", "m_X"),
    "hex root": SPEC_BODY.replace("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=", "ab" * 32),
    "empty extension line": SPEC_BODY + "\next\n",
    "carriage returns": SPEC_BODY.replace("\n", "\r\n"),
    "control character": SPEC_BODY.replace("sofa", "so\x00fa"),
}


@pytest.mark.parametrize("text", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_bodies_are_rejected(text: str) -> None:
    with pytest.raises(CheckpointError):
        parse_body(text)


def test_malformed_checkpoints_are_refused_at_construction() -> None:
    for args in [
        ("", 1, bytes(32)),
        ("a\nb", 1, bytes(32)),
        (ORIGIN, -1, bytes(32)),
        (ORIGIN, 2**64, bytes(32)),
        (ORIGIN, 1, bytes(31)),
    ]:
        with pytest.raises(CheckpointError):
            Checkpoint(*args)
    with pytest.raises(CheckpointError):
        Checkpoint(ORIGIN, 1, bytes(32), ("",))


def _cp(size: int = 3) -> Checkpoint:
    builder = TreeBuilder()
    for i in range(size):
        builder.append(b"entry %d" % i)
    return Checkpoint(ORIGIN, size, builder.root())


def test_signed_checkpoint_opens_with_the_log_key() -> None:
    cp = _cp()
    note = sign_checkpoint(cp, SIGNER)
    assert note.startswith(format_body(cp) + "\n\u2014 " + ORIGIN + " ")
    assert open_checkpoint(note, SIGNER.verifier) == cp


def test_checkpoint_signed_by_another_key_is_rejected() -> None:
    impostor = generate_signer(ORIGIN)  # same name, different key
    note = sign_checkpoint(_cp(), impostor)
    with pytest.raises(FormatError, match="no signature from the trusted key"):
        open_checkpoint(note, SIGNER.verifier)


def test_edited_checkpoint_fails_its_signature() -> None:
    note = sign_checkpoint(_cp(3), SIGNER)
    forged = note.replace("\n3\n", "\n2\n", 1)
    with pytest.raises(FormatError, match="does not verify"):
        open_checkpoint(forged, SIGNER.verifier)


def test_checkpoint_for_another_origin_is_rejected() -> None:
    other = Checkpoint("other.example/log", 3, _cp().root)
    note = sign_note(format_body(other), SIGNER)  # signed by our key, but names another log
    with pytest.raises(CheckpointError, match="another log origin"):
        open_checkpoint(note, SIGNER.verifier)
    assert open_checkpoint(note, SIGNER.verifier, origin="other.example/log") == other
    with pytest.raises(ValueError, match="origin"):
        sign_checkpoint(other, SIGNER)


def test_signed_note_whose_body_is_not_a_checkpoint_is_rejected() -> None:
    note = sign_note("hello\nworld\n", SIGNER)
    with pytest.raises(CheckpointError):
        open_checkpoint(note, SIGNER.verifier)


# --- c2sp.org/tlog-proof@v1 ---------------------------------------------------------------------

SPEC_PROOF = """c2sp.org/tlog-proof@v1
extra YWdlLXYxLjIuMS1kYXJ3aW4tYXJtNjQudGFyLmd6kYXJ3aW4tYXJ
index 73894
gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=
B95lDa8R83lS8n0eG+o0buTxRKQTYFi//1U8anccXmA=
EKNzoDWG8LGC0Yp9o+sv3qllpMP9uHQ9B20KNL+Q1zs=
RoopEkOdqkYqMB4MJXrbt/hMjOxsVn0IrWjpz1ZMMes=
AHCioX9nLjsrse6YhjRRmk1WUEirVOLLRoOQ6vfO5vk=

example.com/fancylog
109482
sFodV/vSp5O8n9a8QpW6PRY97tfOSW5bsc2Xl/EQi08=

\u2014 example.com/fancylog hI2DJw[...]1roloI=
"""


def test_spec_example_tlog_proof_parses() -> None:
    proof = parse_inclusion_proof(SPEC_PROOF)
    assert proof.index == 73894
    assert len(proof.hashes) == 5
    assert proof.hashes[0] == base64.b64decode("gSKyXoYZUgZ6jduWYrkDOARinOMGJveXjgMkBTcdPlQ=")
    assert proof.extra is not None
    assert proof.extra.startswith(b"age-v1.2.1-darwin-arm64.tar.gz")
    assert proof.checkpoint.startswith("example.com/fancylog\n109482\n")
    assert (
        format_inclusion_proof(proof.index, proof.hashes, proof.checkpoint, extra=proof.extra)
        == SPEC_PROOF
    )


def _logged(size: int, index: int) -> tuple[bytes, str, str]:
    entries = [b"entry %d" % i for i in range(size)]
    leaves = [leaf_hash(e) for e in entries]
    builder = TreeBuilder()
    for e in entries:
        builder.append(e)
    note = sign_checkpoint(Checkpoint(ORIGIN, size, builder.root()), SIGNER)
    hashes = [
        fold([_node(leaves, lv, ix) for lv, ix in plan]) for plan in inclusion_plan(index, size)
    ]
    return leaves[index], note, format_inclusion_proof(index, hashes, note)


def _node(leaves: list[bytes], level: int, index: int) -> bytes:
    builder = TreeBuilder()
    for h in leaves[index << level : (index + 1) << level]:
        builder.append_hash(h)
    return builder.root()


@pytest.mark.parametrize(("size", "index"), [(1, 0), (7, 3), (8, 7), (13, 12)])
def test_tlog_proof_round_trips_and_verifies(size: int, index: int) -> None:
    leaf, note, text = _logged(size, index)
    assert text.startswith(PROOF_HEADER + f"\nindex {index}\n")
    cp, proof = open_inclusion_proof(text, leaf, SIGNER.verifier)
    assert cp.size == size
    assert proof.index == index
    assert proof.checkpoint == note
    assert proof.extra is None


def test_tlog_proof_for_another_leaf_or_index_fails() -> None:
    leaf, _, text = _logged(13, 5)
    with pytest.raises(ProofError):
        open_inclusion_proof(text, leaf_hash(b"entry 6"), SIGNER.verifier)
    with pytest.raises(ProofError):
        open_inclusion_proof(text.replace("index 5\n", "index 4\n"), leaf, SIGNER.verifier)
    with pytest.raises(FormatError):
        open_inclusion_proof(text, leaf, generate_signer(ORIGIN).verifier)


BAD_PROOFS = {
    "wrong header": lambda t: t.replace(PROOF_HEADER, "c2sp.org/tlog-proof@v2"),
    "no index": lambda t: t.replace("index 5\n", ""),
    "leading zero index": lambda t: t.replace("index 5\n", "index 05\n"),
    "negative index": lambda t: t.replace("index 5\n", "index -5\n"),
    "bad hash": lambda t: t.replace("index 5\n", "index 5\nnot-base64\n"),
    "short hash": lambda t: t.replace("index 5\n", "index 5\nAAAA\n"),
    "bad extra": lambda t: t.replace("index 5\n", "extra ***\nindex 5\n"),
    "no checkpoint": lambda t: t[: t.index("\n\n") + 2],
    "no blank line": lambda t: t.replace("\n\n", "\n", 1),
}


@pytest.mark.parametrize("mangle", BAD_PROOFS.values(), ids=BAD_PROOFS.keys())
def test_malformed_tlog_proofs_are_rejected(mangle) -> None:
    leaf, _, text = _logged(13, 5)
    with pytest.raises(FormatError):
        open_inclusion_proof(mangle(text), leaf, SIGNER.verifier)
