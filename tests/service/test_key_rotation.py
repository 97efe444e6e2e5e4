"""Key rotation when someone leaves a tip (issue 13): a copy of the old private keys, taken while
the member still had access, opens nothing after the rotation - neither what is written later
nor the rewritten headers of what was there - while the remaining audience, the recovery key
and the reporter's receipt open everything, old and new."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, select, update
from sqlalchemy.orm import Session

from crypto.age import decrypt_bytes
from crypto.errors import CryptoError
from service.access.envelopes import current_holders, lock_tips
from service.access.grants import reroute_tip
from service.access.recovery import recover_with_key
from service.access.rotation import rotate_tip_keys
from service.access.service import remove_member_with_access
from service.audit.log import history
from service.blobs.models import Blob, BlobChunk
from service.config import Settings
from service.db import utcnow
from service.errors import Conflict, Unauthorized
from service.staff.models import Role
from service.tips.contest import contest_closure
from service.tips.conversation import reporter_view
from service.tips.models import Tip
from service.tips.purge import shred_tip
from tests.factories import Border, add_conflict, add_staff, in_tx, principal, submit
from tests.service.access_util import CONTACT, apply_as, blob_payloads, envelopes, staff_row
from tests.service.rotation_util import (
    blob_ids,
    keys_of,
    opens,
    reporter_login,
    reporter_upload,
    reporter_writes,
    staff_writes,
)


def _remove_ana(engine: Engine, border: Border) -> None:
    def remove(session: Session) -> int:
        staff = staff_row(session, border.reviewer_us)
        return remove_member_with_access(session, compartment="us", staff=staff, actor="system")

    in_tx(engine, remove)


def _rotations(engine: Engine, tip_id: uuid.UUID) -> list[dict[str, object]]:
    entries = in_tx(engine, lambda s: history(s, tip_id))
    return [dict(e.details or {}) for e in entries if e.action == "tip.keys_rotated"]


def test_old_keys_open_nothing_after_a_removal_and_everyone_left_opens_everything(
    engine: Engine, settings: Settings, border: Border
) -> None:
    sam = principal(border.supervisor_us, Role.SUPERVISOR)
    tip_id, receipt = submit(engine, settings, contact=CONTACT)
    reporter = reporter_login(engine, settings, receipt)
    staff_writes(engine, sam, tip_id, "before")
    reporter_upload(engine, settings, reporter, b"first file", message="before")
    # ana copies the keys while she still reads the tip; sam copies the identity key.
    old = keys_of(engine, tip_id, border.reviewer_us.identity, border.supervisor_us.identity)
    old_envelopes = envelopes(engine, tip_id)
    payloads = blob_payloads(engine, tip_id)

    _remove_ana(engine, border)
    assert _rotations(engine, tip_id) == []  # queued: nobody holding the keys acted yet
    apply_as(engine, sam)

    (rotation,) = _rotations(engine, tip_id)
    assert rotation == {"blobs": len(payloads), "envelopes": 3}
    assert blob_payloads(engine, tip_id) == payloads  # headers only: no payload re-encrypted
    staff_writes(engine, sam, tip_id, "after")
    with pytest.raises(Unauthorized):  # the old session's key is dead
        reporter_writes(engine, reporter, "with the old session")
    with pytest.raises(Unauthorized):
        in_tx(engine, lambda s: reporter_view(s, reporter, today=utcnow().date()))
    with pytest.raises(Unauthorized):
        reporter_upload(engine, settings, reporter, b"refused file")
    with pytest.raises(Unauthorized):
        in_tx(engine, lambda s: contest_closure(s, reporter, "late", today=utcnow().date()))
    again = reporter_login(engine, settings, receipt)  # the receipt opens the new envelope
    reporter_upload(engine, settings, again, b"second file", message="after")

    everything = blob_ids(engine, tip_id)
    assert len(everything) == len(payloads) + 2 + 1 + 2  # staff message+note, message, file+info
    new = keys_of(engine, tip_id, border.supervisor_us.identity, border.supervisor_us.identity)
    recovered = keys_of(engine, tip_id, border.recovery_identity, border.recovery_identity)
    assert new == recovered
    assert set(new.all()).isdisjoint(old.all())
    for blob_id in everything:
        assert not opens(engine, blob_id, old.all()), blob_id
        assert opens(engine, blob_id, new.all()), blob_id
    # The old envelopes still open with ana's key (she had them), but what they hold opens nothing.
    assert decrypt_bytes(old_envelopes["staff"], [border.reviewer_us.identity])
    for kind, data in envelopes(engine, tip_id).items():
        with pytest.raises(CryptoError):
            decrypt_bytes(data, [border.reviewer_us.identity])
        assert data != old_envelopes[kind]
    view = in_tx(engine, lambda s: reporter_view(s, again, today=utcnow().date()))
    bodies = [m.body for m in view.messages]
    assert bodies == ["message before", "before", "message after", "after"]
    assert [a.size for a in view.attachments] == [len(b"first file"), len(b"second file")]


def test_a_conflict_applied_later_and_the_recovery_key_rotate_too(
    engine: Engine, settings: Settings, border: Border
) -> None:
    """A removal nobody holding the keys can apply yet rotates when it is applied: the only
    reader's conflict leaves the tip reader-less, and the recovery run reroutes and rotates."""
    luis = border.reviewer_mx
    tip_id, receipt = submit(engine, settings, agency="tijuana-municipal")
    old = keys_of(engine, tip_id, luis.identity)
    count = len(blob_payloads(engine, tip_id))
    add_conflict(engine, settings, luis.id, "name", "Juan Ramírez")
    assert _rotations(engine, tip_id) == []
    otto = add_staff(engine, settings, "otto", Role.SUPERVISOR, ["oversight"])
    outcome = in_tx(
        engine, lambda s: recover_with_key(s, recovery_identity=border.recovery_identity)
    )
    assert outcome.rerouted == 1
    # The queued removal (applied with the recovery key), then the reroute to oversight.
    rotation = {"blobs": count, "envelopes": 2, "by_recovery": True}
    assert _rotations(engine, tip_id) == [rotation, rotation]
    new = keys_of(engine, tip_id, otto.identity)
    for blob_id in blob_ids(engine, tip_id):
        assert not opens(engine, blob_id, old.all())
        assert opens(engine, blob_id, new.all())
    reporter = reporter_login(engine, settings, receipt)
    view = in_tx(engine, lambda s: reporter_view(s, reporter, today=utcnow().date()))
    assert view.status == "received"


def test_a_reroute_rotates_and_the_old_compartment_opens_nothing(
    engine: Engine, settings: Settings, border: Border
) -> None:
    sam = principal(border.supervisor_us, Role.SUPERVISOR)
    tip_id, _ = submit(engine, settings, contact=CONTACT)
    old = keys_of(engine, tip_id, sam.identity, sam.identity)
    in_tx(engine, lambda s: reroute_tip(s, tip_id=tip_id, compartment="mx", approver=sam))
    luis = principal(border.reviewer_mx)
    staff_writes(engine, luis, tip_id, "in mx")
    new = keys_of(engine, tip_id, luis.identity, border.recovery_identity)
    for blob_id in blob_ids(engine, tip_id):
        assert not opens(engine, blob_id, old.all())
        assert opens(engine, blob_id, new.all())


def test_a_holder_who_cannot_open_the_keys_rotates_nothing(
    engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id, _ = submit(engine, settings, contact=CONTACT)
    before, payloads = envelopes(engine, tip_id), blob_payloads(engine, tip_id)
    tip_before = in_tx(engine, lambda s: s.get_one(Tip, tip_id).conversation_recipient)

    def rotate(identity: str) -> None:
        def run(session: Session) -> None:
            holders = current_holders(session, tip_id)
            rotate_tip_keys(session, tip_id, identity, actor="system", holders=holders)

        in_tx(engine, run)

    # ana opens the staff envelope but not the identity one; luis opens neither.
    for outsider in (border.reviewer_us.identity, border.reviewer_mx.identity):
        with pytest.raises(Conflict):
            rotate(outsider)
    assert envelopes(engine, tip_id) == before
    assert blob_payloads(engine, tip_id) == payloads
    assert in_tx(engine, lambda s: s.get_one(Tip, tip_id).conversation_recipient) == tip_before
    assert _rotations(engine, tip_id) == []


def test_a_corrupt_blob_header_refuses_the_rotation_with_nothing_written(
    engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id, _ = submit(engine, settings)
    before = envelopes(engine, tip_id)
    first = in_tx(engine, lambda s: s.scalar(select(Blob.id).where(Blob.tip_id == tip_id)))
    in_tx(
        engine,
        lambda s: s.execute(
            update(BlobChunk).where(BlobChunk.blob_id == first).values(data=b"not an age file")
        ),
    )

    def run(session: Session) -> None:
        lock_tips(session, [tip_id])
        holders = current_holders(session, tip_id)
        rotate_tip_keys(
            session, tip_id, border.supervisor_us.identity, actor="system", holders=holders
        )

    with pytest.raises(Conflict):
        in_tx(engine, run)
    assert envelopes(engine, tip_id) == before  # every envelope (reporter's too) as it was


def test_a_purged_tip_with_a_queued_removal_is_applied_without_a_rotation(
    engine: Engine, settings: Settings, border: Border
) -> None:
    tip_id, _ = submit(engine, settings)
    _remove_ana(engine, border)
    in_tx(engine, lambda s: shred_tip(s, s.get_one(Tip, tip_id)))
    assert apply_as(engine, principal(border.supervisor_us, Role.SUPERVISOR)) == 1
    assert _rotations(engine, tip_id) == []
    assert envelopes(engine, tip_id) == {}
