"""Response hardening: security headers on every HTTP response, as a pure ASGI middleware.

`create_app` wraps the whole middleware stack with it, outside Starlette's own error middleware, so
errors, 404s, static files and even a last-resort 500 carry the same headers. The policy allows only
what our pages use: our own stylesheet and images, forms posting to ourselves, no script at all.

Imports only Starlette's ASGI types.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

__all__ = ["CONTENT_SECURITY_POLICY", "SECURITY_HEADERS", "SecurityHeadersMiddleware"]

CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'none'",
        "style-src 'self'",
        "img-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    ]
)
_DENIED_FEATURES = (
    "accelerometer",
    "autoplay",
    "camera",
    "display-capture",
    "encrypted-media",
    "fullscreen",
    "geolocation",
    "gyroscope",
    "magnetometer",
    "microphone",
    "midi",
    "payment",
    "picture-in-picture",
    "publickey-credentials-get",
    "screen-wake-lock",
    "usb",
    "xr-spatial-tracking",
)
SECURITY_HEADERS: dict[str, str] = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "Referrer-Policy": "no-referrer",
    "X-Content-Type-Options": "nosniff",
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Permissions-Policy": ", ".join(f"{feature}=()" for feature in _DENIED_FEATURES),
}
_RAW_HEADERS = [
    (k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in SECURITY_HEADERS.items()
]
# Ours replace whatever the app set (e.g. StaticFiles' caching); `server` is dropped outright.
_REMOVED = frozenset(name for name, _ in _RAW_HEADERS) | {b"server"}
_CSP = b"content-security-policy"


class SecurityHeadersMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                own = message.get("headers", ())
                headers = [(name, value) for name, value in own if name.lower() not in _REMOVED]
                ours = _RAW_HEADERS
                sandboxed = [v for n, v in own if n.lower() == _CSP and v.startswith(b"sandbox")]
                if sandboxed:  # a response may only tighten the policy (evidence downloads)
                    ours = [(n, v) for n, v in _RAW_HEADERS if n != _CSP] + [(_CSP, sandboxed[0])]
                message = {**message, "headers": headers + ours}
            await send(message)

        await self.app(scope, receive, send_with_headers)
