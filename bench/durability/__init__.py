"""Durability harness (`make durability`, `python -m bench.durability`): kill -9 rounds, worker
kills, PostgreSQL faults and stalls, disk full, concurrent uploads and a WAL flood against real
`probity serve` / `probity worker` processes; prints one JSON summary.

instance.py starts instances and processes, client.py speaks HTTP, checks.py reads the database,
proxy.py is the faulty TCP proxy, load.py the retrying clients, scenarios/ one module per
scenario, targets.py the pass/fail rules, __main__.py the runner.
"""
