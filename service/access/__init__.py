"""Access changes on tip keys: queued envelope rewrites, conflicts, reveal and reroute.

May import service.* and crypto.*; never FastAPI, Starlette or Jinja2.
"""
