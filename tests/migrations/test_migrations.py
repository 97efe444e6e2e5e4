"""Every revision runs up and down on SQLite and PostgreSQL, and head matches the models."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, inspect

from service.db import all_metadata
from service.migrations import alembic_config, current_revision, downgrade, head_revision, upgrade


def _revisions_base_to_head() -> list[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return [rev.revision for rev in reversed(list(script.walk_revisions()))]


def test_every_revision_upgrades_and_downgrades(empty_engine: Engine) -> None:
    engine = empty_engine
    revisions = _revisions_base_to_head()
    assert revisions, "no migrations found"
    for rev in revisions:
        upgrade(engine, rev)
        assert current_revision(engine) == rev
    for rev in reversed(revisions[:-1]):
        downgrade(engine, rev)
        assert current_revision(engine) == rev
    downgrade(engine, "base")
    assert current_revision(engine) is None
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    upgrade(engine)
    assert current_revision(engine) == head_revision()


def test_head_matches_the_models(empty_engine: Engine) -> None:
    engine = empty_engine
    upgrade(engine)
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diff = compare_metadata(context, all_metadata())
    assert diff == [], f"models and migrations differ: {diff}"


def test_migrations_are_named_by_date_and_slug() -> None:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    import re
    from pathlib import Path

    for rev in script.walk_revisions():
        assert rev.path is not None
        assert re.fullmatch(r"\d{4}-\d{2}-\d{2}_[a-z0-9_]+\.py", Path(rev.path).name)
