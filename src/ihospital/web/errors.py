"""Turns a ``DomainError`` that a page view did not catch into a page with the right 4xx status.

The API has its own handler (``ihospital.api``); this covers the HTML views, so someone else's chart id
answers the same 404 page as a missing one, and a refusal shows the same message as the API would.
"""

from __future__ import annotations

from django.shortcuts import render

from ihospital.core.errors import DomainError

TEMPLATES = {404: "404.html", 403: "403.html"}


def render_domain_error(request, exc: DomainError):
    template = TEMPLATES.get(exc.status, "web/error.html")
    context = {"message": exc.message, "code": exc.code, "status": exc.status, "link": exc.link}
    return render(request, template, context, status=exc.status)


class DomainErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, DomainError) or request.path.startswith("/api/"):
            return None
        return render_domain_error(request, exception)
