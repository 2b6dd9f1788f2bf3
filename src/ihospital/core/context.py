"""Per-request context (request id, acting user, client address) for the audit log.

Stored in a ContextVar so it follows the request into ``sync_to_async`` threads and async consumers.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from dataclasses import dataclass


@dataclass(frozen=True)
class RequestContext:
    request_id: str
    ip: str = ""
    user_agent: str = ""


_current: ContextVar[RequestContext | None] = ContextVar("ihospital_request_context", default=None)


def current() -> RequestContext:
    ctx = _current.get()
    if ctx is None:
        # Outside a request (a task or a command): one id per unit of work is still useful.
        ctx = RequestContext(request_id=f"job-{uuid.uuid4().hex[:16]}")
        _current.set(ctx)
    return ctx


def activate(ctx: RequestContext):
    return _current.set(ctx)


def reset(token) -> None:
    _current.reset(token)
