"""The one error type a service raises when a request cannot be carried out.

A ``DomainError`` carries a stable machine code (for API clients and tests) and a human message that is
translated into the user's language when it is rendered. The API and the pages turn it into HTTP 4xx with
``{"error": {"code", "message"}}``; nothing a user types can produce a 500.
"""

from __future__ import annotations

from typing import Any

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class DomainError(Exception):
    status = 400

    def __init__(
        self,
        code: str,
        message: str | Promise,
        *,
        status: int | None = None,
        fields: dict[str, Any] | None = None,
        link: str = "",
    ) -> None:
        super().__init__(code)
        self.code = code
        self.message = message
        if status is not None:
            self.status = status
        self.fields = fields or {}
        # Where the user can go instead (e.g. the in-person booking page when an online visit is refused).
        self.link = link

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": str(self.message)}
        if self.fields:
            body["fields"] = {k: str(v) for k, v in self.fields.items()}
        if self.link:
            body["link"] = self.link
        return {"error": body}

    def __str__(self) -> str:  # pragma: no cover - debugging aid
        return f"{self.code}: {self.message}"


class NotFound(DomainError):
    """Raised for objects that do not exist *or* that the user may not see: the two must look the same."""

    status = 404

    def __init__(self, code: str = "not_found", message: str | Promise | None = None) -> None:
        super().__init__(code, message or _("Not found."))


class Forbidden(DomainError):
    status = 403


class Conflict(DomainError):
    status = 409
