"""Signed HTTP callbacks, as the built-in simulators of outside services send them (the payment sandbox, the
courier simulator): HMAC-SHA256 over ``timestamp + "\\n" + nonce + "\\n" + body + "\\n"``, hex, in three headers,
POSTed with urllib. Each simulator keeps its own key, header names and ``post`` (which tests replace)."""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import urllib.error
import urllib.request


def signature(*, key: bytes, timestamp: str, nonce: str, body: bytes) -> str:
    message = f"{timestamp}\n{nonce}\n".encode() + body + b"\n"
    return hmac.new(key, message, hashlib.sha256).hexdigest()


def signed_headers(body: bytes, *, key: bytes, names: tuple[str, str, str], timestamp: int | None = None,
                   nonce: str | None = None) -> dict[str, str]:
    """``names``: the timestamp, nonce and signature headers."""
    ts = str(int(time.time()) if timestamp is None else timestamp)
    nonce = nonce or secrets.token_hex(16)
    timestamp_header, nonce_header, signature_header = names
    return {
        "Content-Type": "application/json",
        timestamp_header: ts,
        nonce_header: nonce,
        signature_header: signature(key=key, timestamp=ts, nonce=nonce, body=body),
    }


def http_post(url: str, body: bytes, headers: dict[str, str], *, timeout: float) -> int:
    """POST ``body`` to ``url``; answer the HTTP status. A connection failure raises ``OSError``."""
    if not url.startswith(("http://", "https://")):
        raise OSError(f"not an HTTP address: {url!r}")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - checked above
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310
            response.read(4096)
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code
