"""Edits made behind the application's back are caught by `probity audit verify`.

Each test drops the append-only triggers first (as an attacker with database access would),
changes rows directly, exports again and verifies: exit 1, naming the first bad entry.
"""

from __future__ import annotations

import json
import random
import re
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import Connection, Engine, text
from typer.testing import CliRunner, Result

from crypto.merkle import leaf_hash
from service.audit.log import log_size
from service.cli import app
from service.config import Settings
from tests.factories import init_instance, transaction
from tests.service.audit_util import drop_triggers, fill

runner = CliRunner()
SEEDS = [1, 2, 3]


@pytest.fixture
def audited(cheap_kdf_env: Settings, engine: Engine) -> Settings:
    init_instance(engine, cheap_kdf_env)
    fill(engine, 40)
    return cheap_kdf_env


def _key(tmp: Path) -> Path:
    result = runner.invoke(app, ["audit", "key"])
    assert result.exit_code == 0, result.output
    path = tmp / "log.pub"
    path.write_text(result.output)
    return path


def export(tmp: Path, name: str) -> Path:
    path = tmp / name
    result = runner.invoke(app, ["audit", "export", str(path)])
    assert result.exit_code == 0, result.output
    return path


def verify(
    file: Path, key: Path, checkpoint: Path | None = None, trusted: Path | None = None
) -> Result:
    argv = ["audit", "verify", str(file), "--key", str(key)]
    argv += ["--checkpoint", str(checkpoint or Path(f"{file}.checkpoint"))]
    if trusted is not None:
        argv += ["--trusted", str(trusted)]
    return runner.invoke(app, argv)


def _canonical(connection: Connection, index: int) -> bytes:
    query = text('SELECT canonical FROM audit_entries WHERE "index" = :i')
    return bytes(connection.execute(query, {"i": index}).scalar_one())


def _set_canonical(connection: Connection, index: int, value: bytes) -> None:
    query = text('UPDATE audit_entries SET canonical = :c WHERE "index" = :i')
    connection.execute(query, {"c": value, "i": index})


def edit(connection: Connection, rng: random.Random, size: int) -> int:
    index = rng.randrange(size)
    body = json.loads(_canonical(connection, index))
    body["action"] = "tip.nothing_to_see"
    encoded = json.dumps(body, sort_keys=True, separators=(",", ":")).encode()
    _set_canonical(connection, index, encoded)
    return index


def delete(connection: Connection, rng: random.Random, size: int) -> int:
    index = rng.randrange(size - 1)
    connection.execute(text('DELETE FROM audit_entries WHERE "index" = :i'), {"i": index})
    return index


def reorder(connection: Connection, rng: random.Random, size: int) -> int:
    first, second = sorted(rng.sample(range(size), 2))
    a, b = _canonical(connection, first), _canonical(connection, second)
    _set_canonical(connection, first, b)
    _set_canonical(connection, second, a)
    return first


def truncate(connection: Connection, rng: random.Random, size: int) -> int:
    """Drop the newest entries and every subtree hash touching them (so appends go on)."""
    keep = rng.randrange(1, size)
    connection.execute(text('DELETE FROM audit_entries WHERE "index" >= :k'), {"k": keep})
    for level in range(32):
        query = text('DELETE FROM audit_nodes WHERE level = :l AND ("index" + 1) * :w > :k')
        connection.execute(query, {"l": level, "w": 2**level, "k": keep})
    return keep


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("tamper", [edit, delete, reorder, truncate])
def test_tampering_is_detected_and_names_the_first_bad_entry(
    audited: Settings,
    engine: Engine,
    tmp_path: Path,
    tamper: Callable[[Connection, random.Random, int], int],
    seed: int,
) -> None:
    key = _key(tmp_path)
    clean = export(tmp_path, "clean.jsonl")
    assert verify(clean, key).exit_code == 0
    with transaction(engine) as session:
        size = log_size(session) - 1  # the entries the clean export covers
    with engine.begin() as connection:
        drop_triggers(connection)
        bad = tamper(connection, random.Random(seed), size)
    forged = export(tmp_path, "forged.jsonl")
    for checkpoint in (Path(f"{forged}.checkpoint"), Path(f"{clean}.checkpoint")):
        result = verify(forged, key, checkpoint)
        assert result.exit_code == 1, result.output
        assert "Traceback" not in result.output
        named = re.search(r"entry (\d+)", result.output)
        assert named is not None, result.output
        assert int(named.group(1)) == bad, result.output


def test_an_edit_with_its_leaf_hash_is_caught_by_the_root(
    audited: Settings, engine: Engine, tmp_path: Path
) -> None:
    key = _key(tmp_path)
    clean = export(tmp_path, "clean.jsonl")
    with engine.begin() as connection:
        drop_triggers(connection)
        index = edit(connection, random.Random(4), 30)
        connection.execute(
            text('UPDATE audit_nodes SET hash = :h WHERE level = 0 AND "index" = :i'),
            {"h": leaf_hash(_canonical(connection, index)), "i": index},
        )
    forged = export(tmp_path, "forged.jsonl")
    result = verify(forged, key)
    assert result.exit_code == 1
    assert "altered" in result.output
    result = verify(forged, key, trusted=Path(f"{clean}.checkpoint"))
    assert result.exit_code == 1


def test_a_checkpoint_rewritten_by_someone_without_the_key_is_refused(
    audited: Settings, tmp_path: Path
) -> None:
    key = _key(tmp_path)
    clean = export(tmp_path, "clean.jsonl")
    note = Path(f"{clean}.checkpoint")
    lines = note.read_text().split("\n")
    lines[1] = str(int(lines[1]) - 1)
    note.write_text("\n".join(lines))
    result = verify(clean, key)
    assert result.exit_code == 1
    assert "checkpoint" in result.output
