"""Server-rendered pages, one router module per trust zone (reporter now; staff and audit later).

May import `routes.templating`, `routes.i18n`, `service` and `crypto`.
"""
