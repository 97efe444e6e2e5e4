"""Agencies a reporter can name, each routed to a compartment.

- models.py (models): the agency row.
- repository.py (repository): the admin listing.
- service.py (service): adding an agency and routing it, audited (requests after the bootstrap).
- cli.py (cli): `probity agency add`.
"""
