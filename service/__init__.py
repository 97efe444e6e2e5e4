"""Domain, storage, workflow, audit and CLI.

May import `crypto`; never imports FastAPI, Starlette or Jinja2.
"""
