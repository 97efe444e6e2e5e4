"""HTTP: the app factory, JSON API and server-rendered pages.

May import `service` and `crypto`.
"""
