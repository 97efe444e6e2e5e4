"""Instance-wide keys and first-time set-up (`probity init`, `probity demo`).

- models.py (models): public instance keys and settled instance facts.
- context.py (schemas): what request handling needs from the instance, loaded once.
- keys.py (service): the key files kept out of the database.
- setup.py, demo.py, demo_tips.py (service): `init`, the demo instance and its sample tips.
- cli.py (cli): `probity init`, `db upgrade`, `serve`, `worker`, `demo`.
"""
