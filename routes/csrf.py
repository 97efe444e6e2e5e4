"""Stateless CSRF tokens for the reporter's forms.

A reporter has no cookie before a receipt login, so the usual double-submit cookie is not an
option. A token is instead an HMAC-SHA256, under a server key, over the form's purpose, a
binding and the time it was issued:

    v1.<issued-at, unix seconds>.<base64url MAC>

- purpose: which form (`report`, `status-login`, `status-message`, `status-logout`), so a token
  from one form is refused by another;
- binding: what the form is about: the one-time nonce of the tip form, the constant
  `status-login`, or the signed-in reporter's tip id and session start (`signed_in_binding`);
- the key is derived from the instance's reporter session key with its own label, so neither key
  can stand in for the other.

Tokens expire after `TTL`; the comparison is constant-time. A forged, missing, expired or
cross-purpose token raises `CsrfRejected` (403). The server stores nothing.

Imports the standard library, `service.errors` and `service.instance.context`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from datetime import datetime, timedelta

from service.errors import CsrfRejected
from service.instance.context import InstanceContext
from service.tips.reporter_auth import ReporterSession

__all__ = ["LOGIN_BINDING", "TTL", "issue", "refresh", "signed_in_binding", "verify"]

TTL = timedelta(hours=2)
# Clocks of several app instances may disagree a little; a token from the future is still forged.
_SKEW = timedelta(minutes=2)
_LABEL = b"probity/v1/csrf"
_VERSION = "v1"
LOGIN_BINDING = "status-login"


def _key(ctx: InstanceContext) -> bytes:
    return hmac.new(ctx.reporter_session_key, _LABEL, hashlib.sha256).digest()


def _mac(ctx: InstanceContext, purpose: str, binding: str, issued: int) -> bytes:
    # Length-prefixed, so ("ab", "c") and ("a", "bc") never sign the same bytes.
    message = f"{len(purpose)}:{purpose}|{len(binding)}:{binding}|{issued}".encode()
    return hmac.new(_key(ctx), message, hashlib.sha256).digest()


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def signed_in_binding(session: ReporterSession) -> str:
    """What a signed-in form is bound to: this tip, this sign-in."""
    return f"{session.tip_id}:{int(session.started.timestamp())}"


def issue(ctx: InstanceContext, *, purpose: str, binding: str, now: datetime) -> str:
    issued = int(now.timestamp())
    return f"{_VERSION}.{issued}.{_b64(_mac(ctx, purpose, binding, issued))}"


def _issued_at(token: str) -> tuple[int, str]:
    version, _, rest = token.partition(".")
    issued, _, mac = rest.partition(".")
    if version != _VERSION or not issued.isascii() or not issued.isdigit() or len(issued) > 12:
        raise CsrfRejected("the form's security token is missing or not valid")
    return int(issued), mac


def verify(
    ctx: InstanceContext, token: str | None, *, purpose: str, binding: str, now: datetime
) -> int:
    """Raise `CsrfRejected` unless `token` was issued by us for this purpose and binding within
    `TTL`; return its issue time (unix seconds)."""
    if not token or len(token) > 200:
        raise CsrfRejected("the form's security token is missing or not valid")
    issued, mac = _issued_at(token)
    expected = _b64(_mac(ctx, purpose, binding, issued)).encode()
    if not hmac.compare_digest(expected, mac.encode("ascii", "replace")):
        raise CsrfRejected("the form's security token is missing or not valid")
    age = now.timestamp() - issued
    if age > TTL.total_seconds() or age < -_SKEW.total_seconds():
        raise CsrfRejected("the form has expired; load it again")
    return issued


def refresh(ctx: InstanceContext, token: str, *, purpose: str, binding: str, now: datetime) -> str:
    """For re-rendering a form after a verified post: the same token while it is young (so the
    page does not change with the clock), a new one once half its life has gone."""
    issued = verify(ctx, token, purpose=purpose, binding=binding, now=now)
    if now.timestamp() - issued < TTL.total_seconds() / 2:
        return token
    return issue(ctx, purpose=purpose, binding=binding, now=now)
