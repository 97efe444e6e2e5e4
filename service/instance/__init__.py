"""Instance-wide keys and first-time set-up (`probity init`, `probity demo`).

- models.py (models): public instance keys and settled instance facts.
- context.py (schemas): what request handling needs from the instance, loaded once.
- keys.py (service): the key files kept out of the database.
- setup.py, demo.py, demo_tips.py (service): `init`, the demo instance and its sample tips.
- backup.py, restore.py (service): `probity backup` and `probity restore`.
- archive.py (service): the backup file's format (an age-encrypted tar stream with a manifest).
- snapshot.py (repository): consistent database snapshots (SQLite backup API, pg_dump) and
  loading one back.
- cli.py (cli): `probity init`, `db upgrade`, `serve`, `worker`, `demo`.
- backup_cli.py (cli): `probity backup`, `probity restore`.
"""
