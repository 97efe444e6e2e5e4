"""Compartments (who may read which tips) and their members.

- models.py (models): compartments and memberships.
- repository.py (repository): by name, the oversight compartment, approved supervisors, listings.
- service.py (service): creating compartments (audited), the membership row rule.
- bootstrap.py (service): the membership bootstrap, closed for good by the first supervisor.
- cli.py (cli): `probity compartment add`.
Who approves a membership and what it grants: service.access.memberships.
"""
