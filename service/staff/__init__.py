"""Staff accounts: models, creation, key sealing, sign-in and administration.

- models.py (models): staff users, sessions, conflicts.
- repository.py (repository): a member by username, the admin listing.
- service.py (service): creating an account with sealed keys.
- admin.py, enrolment.py (service): what admins do to accounts, self-enrolment.
- rotation.py, recovery.py (service): a member's new identity (password change with a new
  identity), recovery of a member who lost their password with the offline key.
- sessions.py, credentials.py, throttle.py, kdf_pool.py (service): sign-in and sessions,
  password and TOTP checks, sign-in throttling, the bound on password derivations.
- cli.py (cli): `probity staff add`, `probity staff recover`.
"""
