"""The offline verifier's reading of the log's signed statements (crypto.statement): the chain of
log keys from the auditor's pinned key to the key signing the checkpoint, and the restores that
may explain a trusted checkpoint the new history no longer contains. No database.

A key rotation is followed only from the key reached so far and only when BOTH keys signed it;
one that starts from that key but is not signed by both is refused outright (a forged step).
A second, different rotation from a key of the chain (a fork: the thief of a retired key making
their own) and a rotation back to a key of the chain (a loop) are refused too. A key rotated
away opens no checkpoint past its rotation point (`KeyChain.open`): the retired key stays on
disk, and whoever copies it must not be able to sign a new history with it.
Each rotation point's root is checked against the export afterwards (`check_rotations`).
A restore is signed by the key current when it happened, so it explains only the loss of what
was signed before it: a checkpoint (or rotation) of a key no later in the chain than its own, in
a history then signed by its key or a later one - never a retired key's word about the newer
keys' tree heads. A
restore statement counts only when a key of the chain signed it; `explain_loss` accepts one only
if its `last` tree head is exactly the trusted checkpoint and its `backup` root matches the log.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from crypto.checkpoint import Checkpoint, open_checkpoint_by_any
from crypto.errors import FormatError
from crypto.note import Verifier, signature_keys
from crypto.statement import (
    Restore,
    Rotation,
    TreeHead,
    open_restore,
    open_rotation,
    parse_statement,
)
from service.errors import VerificationError

__all__ = [
    "KeyChain",
    "check_rotations",
    "explain_loss",
    "follow_chain",
    "key_label",
    "rotation_stops",
]


def key_label(key: Verifier) -> str:
    return f"{key.name}+{key.id:08x}"


@dataclass
class KeyChain:
    keys: list[Verifier]  # the pinned key first, then each key rotated to
    rotations: list[Rotation] = field(default_factory=list)
    restores: list[Restore] = field(default_factory=list)
    ignored_restores: int = 0  # restore statements no key of the chain signed
    restore_ranks: list[int] = field(default_factory=list)  # each restore's key, in `keys`

    def rank(self, key: Verifier) -> int:
        """Where `key` sits in the chain (0: the pinned key)."""
        return self.keys.index(key)

    def steps(self) -> list[str]:
        lines = [f"pinned key {key_label(self.keys[0])}"]
        for r in self.rotations:
            lines.append(
                f"-> {key_label(r.new)} from tree size {r.head.size} "
                "(rotation signed by both keys; its root matches the log)"
            )
        for s in self.restores:
            last = f"{s.last.size} entries" if s.last is not None else "not known"
            lines.append(
                f"restore on {s.date}: the log continues from a backup of {s.backup.size} "
                f"entries (newest tree head signed before the loss: {last})"
            )
        return lines

    def open(self, note: str, what: str) -> tuple[Checkpoint, Verifier]:
        try:
            cp, key = open_checkpoint_by_any(note, self.keys)
        except FormatError as exc:
            raise VerificationError(
                None, f"{what}: {exc} (the pinned key or a key it was rotated to)"
            ) from None
        for r in self.rotations:
            if r.old == key and cp.size > r.head.size:
                raise VerificationError(
                    None,
                    f"{what}: signed by {key_label(key)}, which was rotated away at tree size "
                    f"{r.head.size}, for {cp.size} entries: a retired key signs nothing past its "
                    "rotation point: refused",
                )
        return cp, key


def _text(note: str) -> str:
    head, sep, _ = note.rpartition("\n\n")
    if not sep:
        raise FormatError("note has no signature block")
    return head + "\n"


def _restore(note: str, keys: list[Verifier]) -> tuple[Restore, int] | None:
    """The restore and the rank of the (latest) chain key that signed it."""
    signed = set(signature_keys(note))
    for rank in range(len(keys) - 1, -1, -1):
        key = keys[rank]
        if (key.name, key.id) in signed:
            try:
                return open_restore(note, key), rank
            except FormatError:
                return None
    return None


def _check_fork(chain: KeyChain, statement: Rotation, note: str, number: int) -> None:
    """A rotation from a key already rotated away must be that same rotation (a stored copy);
    a different one signed by both its keys is a fork of the chain."""
    followed = next((r for r in chain.rotations if r.old == statement.old), None)
    if followed is None or followed == statement:
        return
    try:
        open_rotation(note)
    except FormatError:
        return  # not signed by both keys it names: it leads nowhere
    raise VerificationError(
        None,
        f"statement {number}: a second key rotation from {key_label(statement.old)} (to "
        f"{key_label(statement.new)}, besides {key_label(followed.new)}): the key chain forked",
    )


def _step(pinned: Verifier, number: int, note: str, statement: Rotation) -> Rotation:
    """A rotation from the key reached so far: it must be signed by both keys it names."""
    try:
        rotation = open_rotation(note)
    except FormatError as exc:
        raise VerificationError(
            None,
            f"statement {number}: a key rotation from {key_label(statement.old)} that is "
            f"not signed by both keys ({exc}): refused",
        ) from None
    if rotation.origin != pinned.name:
        raise VerificationError(None, f"statement {number}: a rotation of another log")
    return rotation


def _parse(notes: list[str]) -> tuple[list[tuple[int, str, Rotation]], list[str]]:
    rotations: list[tuple[int, str, Rotation]] = []
    restores: list[str] = []
    for number, note in enumerate(notes, start=1):
        try:
            statement = parse_statement(_text(note))
        except FormatError as exc:
            raise VerificationError(None, f"statement {number}: malformed ({exc})") from None
        if isinstance(statement, Restore):
            restores.append(note)
        else:
            rotations.append((number, note, statement))
    return rotations, restores


def follow_chain(pinned: Verifier, notes: list[str]) -> KeyChain:
    """Follow the rotations from the pinned key, each from the key reached so far (in whatever
    order they are listed: a restore puts back the ones it lost in order of tree size); raise
    on a forged step, a fork or a loop."""
    chain = KeyChain([pinned])
    rotations, restores = _parse(notes)
    while True:
        step = next(((n, t, s) for n, t, s in rotations if s.old == chain.keys[-1]), None)
        if step is None:
            break
        number, note, statement = step
        rotation = _step(pinned, number, note, statement)
        if rotation.new in chain.keys:
            raise VerificationError(
                None,
                f"statement {number}: a key rotation back to the earlier key "
                f"{key_label(rotation.new)} (a loop): refused",
            )
        chain.rotations.append(rotation)
        chain.keys.append(rotation.new)
    for number, note, statement in rotations:  # the rest: copies, older keys, or a fork
        _check_fork(chain, statement, note, number)
    for note in restores:  # restores may be signed by any key of the chain, even a later one
        found = _restore(note, chain.keys)
        if found is None or found[0].origin != pinned.name:
            chain.ignored_restores += 1
        else:
            chain.restores.append(found[0])
            chain.restore_ranks.append(found[1])
    return chain


def rotation_stops(chain: KeyChain) -> set[int]:
    return {r.head.size for r in chain.rotations} | {r.backup.size for r in chain.restores}


def _lost_in(
    chain: KeyChain, size: int, roots: dict[int, bytes], *, earliest: int
) -> Restore | None:
    """A restore (on the log), signed by the key of rank `earliest` or a later one, whose lost
    range holds tree size `size`."""
    for s, rank in zip(chain.restores, chain.restore_ranks, strict=True):
        lost_to = s.last.size if s.last is not None else None
        if rank < earliest:
            continue  # signed before that tree head existed: it cannot have lost it
        if s.backup.size < size and (lost_to is None or size <= lost_to):
            if roots.get(s.backup.size) == s.backup.root:
                return s
    return None


def check_rotations(chain: KeyChain, roots: dict[int, bytes]) -> list[str]:
    """Every rotation followed must sit on the log: its root is the export's at that size.
    One whose point was lost in a restore cannot be checked: it stands on its two signatures,
    and the returned warning says so."""
    warnings = []
    for r in chain.rotations:
        if roots.get(r.head.size) == r.head.root:
            continue
        restore = _lost_in(chain, r.head.size, roots, earliest=chain.rank(r.new))
        if restore is None:
            raise VerificationError(
                None,
                f"the key rotation to {key_label(r.new)} at tree size {r.head.size} does not "
                "match the log: refused",
            )
        warnings.append(
            f"the key rotation to {key_label(r.new)} at tree size {r.head.size} lies in entries "
            f"lost in the restore on {restore.date}: it rests on its two signatures alone"
        )
    return warnings


def explain_loss(
    chain: KeyChain, old: Checkpoint, roots: dict[int, bytes], *, ranks: tuple[int, int]
) -> str | None:
    """The warning for a trusted checkpoint lost in a restore, or None if no statement explains
    it: the restore's `last` must be the trusted tree head and its `backup` must be on the log,
    and its key (rank) must lie between the trusted checkpoint's and the checkpoint's (`ranks`):
    a restore comes after what it lost and before what was signed since."""
    trusted = TreeHead(old.size, old.root)
    low, high = ranks
    for r, rank in zip(chain.restores, chain.restore_ranks, strict=True):
        b = r.backup
        if not low <= rank <= high:
            continue
        if r.last == trusted and b.size < old.size and roots.get(b.size) == b.root:
            return (
                f"entries {b.size}..{old.size - 1} were lost in a restore on {r.date}: the "
                f"trusted checkpoint of {old.size} entries is not part of the new history, which "
                f"continues from the backup's {b.size} entries (restore statement signed by the "
                "log key)"
            )
    return None
