"""Access to tip keys: memberships, conflicts, admins' change requests, reveal and reroute, and
the envelope rewrites they queue.

Files and roles (every domain has models, repository, service, schemas, cli where it needs them):
- models.py (models): pending access changes, admin and conflict requests, identity grants.
- deciders.py (repository): who may decide a request for a compartment.
- service.py (service): membership and conflict changes, applying queued envelope rewrites.
- memberships.py, changes.py, conflicts.py (service): four-eyes on memberships (and admins' member
  operations), on routing/new agencies/supervisor removals, on conflicts.
- conflict_values.py, envelopes.py, rewrite.py, rotation.py, grants.py, readerless.py, recovery.py
  (service): conflict values, envelope writes and locks, rewrite plans, key rotation when someone
  leaves a tip, reveal and reroute, tips left with no reader, recovery with the offline key.
- cli.py (cli): `probity conflict ...`, `probity access status|recover`.

May import service.* and crypto.*; never FastAPI, Starlette or Jinja2.
"""
