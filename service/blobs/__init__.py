"""Encrypted payloads stored as chunk rows, written and read as streams.

- models.py (models): blobs and their chunk rows.
- store.py (service): writing and reading age files as chunk rows.
- spool.py (service): chunk rows staged on disk while an upload streams.
- pipeline.py (service): PostgreSQL pipeline mode for the chunk and intake rows (a no-op on SQLite).
"""
