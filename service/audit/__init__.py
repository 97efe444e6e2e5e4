"""The tamper-evident audit log (a Merkle tree), its checkpoints and the auditors' statistics.
Reporter-caused events wait in a pending table, dated by day only.

- models.py (models): entries, interior nodes, checkpoints, statements, log keys, the pending
  table.
- canonical.py (schemas): an entry's canonical bytes and their validation.
- entries.py, view.py, proofs.py (repository): entry ranges and export lines, the auditor's
  filtered pages, roots and proofs.
- stats.py, closure_stats.py, sql_dates.py, suppression.py (repository): content-free statistics
  in SQL, with small-cell suppression.
- cases.py (repository): the auditors' case list, one content-free row per tip, as CSV.
- log.py, pending.py, staff_actions.py (service): appending, in the caller's transaction.
- append.py (service): the append's fast path, rows in and subtree hashes out below the ORM.
- checkpoints.py, guard.py, alarm.py, export.py (service): signing checkpoints, the signer's check
  and alarm, the export.
- statements.py, rotation.py (service): the log's signed statements (a restore from backup, a
  log key rotation).
- verify.py, verify_chain.py (service): the offline verifier (no database), and its reading of
  the key rotations and restores.
- cli.py (cli): `probity audit ...`.
"""
