"""Referral exports (issue 13): a bundle for an external recipient that anyone can verify.

A reader of the tip requests an export (four eyes: service.approvals) naming the recipient's age
key, the variant (full or redacted) and the notes to include; once a different supervisor
approves it, the requester or the approver (or the operator with the recovery key) downloads ONE
bundle: an age file holding a tar of the contents, a manifest signed with the audit log key, the
`tip.exported` entry, a checkpoint and the entry's inclusion proof. Imports service.* and crypto.

- models.py (models): the used approvals (`tip_exports`).
- repository.py (repository): the approval, the tip's parts, usernames.
- schemas.py (schemas): the request, the bundle's file names, the manifest and its signed text.
- content.py (service): the contents, decrypted, and what the redacted variant drops.
- service.py (service): requesting, checking and sealing an export.
- bundle.py (service): the age-encrypted tar stream.
- verify.py (service): offline verification of an unpacked bundle.
- cli.py (cli): `probity export TIP_ID` and `probity export verify`.
"""
