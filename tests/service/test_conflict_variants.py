"""Conflicts and related-tip links follow spelling variants: a conflict matches a tip when its
token set is contained in the tip's (numbers, filler words and word order folded), at intake,
when registered later, on membership approval and on reroute; and it does not reach neighbours
such as "Bridge Unit 4" or "Bridge Unit 31"."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import Engine, delete

from crypto.blind import blind_index
from service.access.grants import reroute_tip
from service.access.memberships import decide_membership
from service.config import Settings
from service.errors import InvalidInput
from service.instance.keys import load_blind_index_key
from service.staff.models import Role, StaffConflict
from service.tips.models import SubjectIndex, SubjectToken
from service.tips.related import related_tips
from service.tips.subjects import stored_keys
from tests.factories import (
    Border,
    add_conflict,
    file_tip,
    in_tx,
    principal,
)
from tests.service.access_util import (
    apply_as,
    audience,
    can_open,
    readable,
    request_membership,
)

VARIANTS = ["Unit 3 Bridge", "Bridge Unit No. 03", "Bridge Unit 03", "the Bridge Unit Nº 3"]
NEIGHBOURS = ["Bridge Unit 4", "Bridge Unit 31", "Bridge Squad 3", "Harbour Unit 3"]


def _tip(engine: Engine, settings: Settings, **subject: str) -> uuid.UUID:
    return file_tip(engine, settings, subjects=[{"rank": "Sgt", **subject}])


@pytest.mark.parametrize("variant", VARIANTS)
def test_conflicted_reviewer_gets_no_key_for_a_spelling_variant(
    engine: Engine, settings: Settings, border: Border, variant: str
) -> None:
    ana, sam = border.reviewer_us, border.supervisor_us
    add_conflict(engine, settings, ana.id, "unit", "Bridge Unit 3")
    tip = _tip(engine, settings, unit=variant)
    assert set(audience(engine, tip)) == {sam.id}
    assert not can_open(engine, tip, "staff", ana.identity)
    assert can_open(engine, tip, "staff", sam.identity)


@pytest.mark.parametrize("neighbour", NEIGHBOURS)
def test_a_conflict_does_not_reach_neighbouring_units(
    engine: Engine, settings: Settings, border: Border, neighbour: str
) -> None:
    ana = border.reviewer_us
    add_conflict(engine, settings, ana.id, "unit", "Bridge Unit 3")
    tip = _tip(engine, settings, unit=neighbour)
    assert ana.id in audience(engine, tip)
    assert can_open(engine, tip, "staff", ana.identity)
    later = _tip(engine, settings, unit=neighbour)
    assert add_conflict(engine, settings, ana.id, "unit", "Bridge Unit 3").tips_removed == 0
    assert readable(engine, ana.id, later)


def test_a_conflict_registered_later_removes_the_member_from_every_variant(
    engine: Engine, settings: Settings, border: Border
) -> None:
    ana = border.reviewer_us
    variants = [_tip(engine, settings, unit=v) for v in VARIANTS]
    others = [_tip(engine, settings, unit=v) for v in NEIGHBOURS]
    outcome = add_conflict(engine, settings, ana.id, "unit", "Bridge Unit 3")
    assert outcome.tips_removed == len(VARIANTS)
    assert [readable(engine, ana.id, t) for t in variants] == [False] * len(VARIANTS)
    assert [readable(engine, ana.id, t) for t in others] == [True] * len(NEIGHBOURS)


def test_a_conflict_matches_a_subject_that_says_more(
    engine: Engine, settings: Settings, border: Border
) -> None:
    ana = border.reviewer_us
    add_conflict(engine, settings, ana.id, "name", "Juan Pérez")
    fuller = _tip(engine, settings, name="Comandante Juan Carlos Pérez López")
    other = _tip(engine, settings, name="Juan Carlos López")
    assert ana.id not in audience(engine, fuller)
    assert ana.id in audience(engine, other)


def test_membership_approval_skips_variant_tips(
    engine: Engine, settings: Settings, border: Border
) -> None:
    tip = _tip(engine, settings, unit="Unit 3 Bridge")
    neighbour = _tip(engine, settings, unit="Bridge Unit 31")
    luis = border.reviewer_mx
    add_conflict(engine, settings, luis.id, "unit", "Bridge Unit No. 3")
    request_membership(engine, luis, "us")
    sam = principal(border.supervisor_us, Role.SUPERVISOR)
    in_tx(
        engine,
        lambda s: decide_membership(s, sam, compartment="us", staff_id=luis.id, approve=True),
    )
    apply_as(engine, sam)
    assert not can_open(engine, tip, "staff", luis.identity)
    assert can_open(engine, neighbour, "staff", luis.identity)


def test_reroute_applies_variant_conflicts(
    engine: Engine, settings: Settings, border: Border
) -> None:
    subjects = [{"unit": "Unit 03 Bridge"}]
    tip = file_tip(engine, settings, agency="tijuana-municipal", subjects=subjects)
    ana = border.reviewer_us
    add_conflict(engine, settings, ana.id, "unit", "Bridge Unit 3")
    approver = principal(border.reviewer_mx, Role.SUPERVISOR)
    in_tx(engine, lambda s: reroute_tip(s, tip_id=tip, compartment="us", approver=approver))
    assert set(audience(engine, tip)) == {border.supervisor_us.id}


@pytest.mark.parametrize(
    ("kind", "value"),
    [("unit", "3"), ("unit", "No. 03"), ("unit", "#3"), ("name", "J."), ("unit", "the")],
)
def test_too_broad_conflicts_are_refused(
    engine: Engine, settings: Settings, border: Border, kind: str, value: str
) -> None:
    with pytest.raises(InvalidInput) as refused:
        add_conflict(engine, settings, border.reviewer_us.id, kind, value)
    assert refused.value.fields == {"value": "too_broad"}


def test_a_badge_number_alone_is_a_conflict(
    engine: Engine, settings: Settings, border: Border
) -> None:
    ana = border.reviewer_us
    tip = _tip(engine, settings, badge="PC-004471")
    assert add_conflict(engine, settings, ana.id, "badge", "4471").tips_removed == 1
    assert not readable(engine, ana.id, tip)


def test_tips_stored_before_token_indexes_still_match_the_whole_value(
    engine: Engine, settings: Settings, border: Border
) -> None:
    ana = border.reviewer_us
    old = _tip(engine, settings, unit="Bridge Unit 3")
    old_variant = _tip(engine, settings, unit="Unit 3 Bridge")
    key = load_blind_index_key(settings.effective_keys_dir)

    def make_old(session: object) -> None:  # what the migration leaves: whole values only
        from crypto.blind import blind_index

        canonical = blind_index(key, "unit", "3 bridge unit")
        session.execute(delete(SubjectToken))  # type: ignore[attr-defined]
        session.execute(delete(SubjectIndex).where(SubjectIndex.value == canonical))  # type: ignore[attr-defined]

    in_tx(engine, make_old)
    assert add_conflict(engine, settings, ana.id, "unit", "BRIDGE  unit 3").tips_removed == 1
    assert not readable(engine, ana.id, old)
    assert readable(engine, ana.id, old_variant)  # the documented limitation


def test_conflicts_stored_before_token_indexes_still_match_the_whole_value(
    engine: Engine, settings: Settings, border: Border
) -> None:
    ana = border.reviewer_us
    key = load_blind_index_key(settings.effective_keys_dir)
    # What the token-set migration left behind: the whole value only, a row no service writes now.
    old = StaffConflict(
        staff_id=ana.id, kind="unit", value=blind_index(key, "unit", "Bridge Unit 3")
    )
    in_tx(engine, lambda s: s.add(old))
    assert ana.id not in audience(engine, _tip(engine, settings, unit="bridge unit 3"))
    assert ana.id in audience(engine, _tip(engine, settings, unit="Unit 3 Bridge"))
    # Registering it again adds the token indexes.
    add_conflict(engine, settings, ana.id, "unit", "Bridge Unit 3")
    assert ana.id not in audience(engine, _tip(engine, settings, unit="Unit 3 Bridge"))


def test_related_tips_link_spelling_variants_and_not_neighbours(
    engine: Engine, settings: Settings, border: Border
) -> None:
    first = _tip(engine, settings, unit="Bridge Unit 3")
    variants = {_tip(engine, settings, unit=v) for v in VARIANTS}
    for neighbour in NEIGHBOURS:
        _tip(engine, settings, unit=neighbour)
    sam = border.supervisor_us.id
    found = in_tx(engine, lambda s: related_tips(s, sam, first))
    assert {r.id for r in found} == variants
    assert {r.matches for r in found} == {("unit",)}


def test_a_subject_of_filler_words_only_is_stored_without_tokens(
    engine: Engine, settings: Settings, border: Border
) -> None:
    tip = _tip(engine, settings, unit="The")
    assert set(audience(engine, tip)) == {border.reviewer_us.id, border.supervisor_us.id}
    keys = in_tx(engine, lambda s: stored_keys(s, tip))
    assert (len(keys.indexes), keys.tokens) == (1, [])
