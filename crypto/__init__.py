"""Formats and primitives: age v1 files, key sealing, receipts, blind indexes, padding.

Imports only the standard library and `cryptography`; knows nothing of storage or HTTP.
"""
