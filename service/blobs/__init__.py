"""Encrypted payloads stored as chunk rows, written and read as streams."""
