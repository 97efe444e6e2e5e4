"""Retention: bucket keys that every envelope is sealed under, retention periods, expiry
warnings, and purges that destroy keys so that copies in old tuples, WAL and backups open
nothing (design section 3, docs/security.md "Purge"). Imports service.* and crypto only.

- models.py (models): the bucket keys.
- repository.py (repository): key lookups and locks, envelopes by bucket.
- buckets.py (service): the bucket policy, sealing and re-sealing envelopes.
- service.py (service): retention periods, expiry days and the supervisors' warnings.
- sweep.py (service): the worker's jobs: re-bucketing, system purge requests, executing
  approved purges.
- shred.py (service): destroying a bucket key and compacting the key table.
- keyring.py (service): the keyring escrow for backups.
- cli.py (cli): `probity compartment retention`.
"""
