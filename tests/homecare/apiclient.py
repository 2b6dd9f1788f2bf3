"""Calling ``/api/homecare/`` as someone (a bearer token, and a language), and reading its answers."""

from __future__ import annotations

from tests.helpers import error_of, token_headers


class Api:
    def __init__(self, client, user, language: str = "en"):
        self.client = client
        self.user = user
        self.headers = {**token_headers(user), "accept-language": language} if user else {"accept-language": language}

    def get(self, path, **query):
        return self.client.get(f"/api/homecare{path}", query, headers=self.headers)

    def post(self, path, body=None):
        return self.client.post(f"/api/homecare{path}", body if body is not None else {},
                                content_type="application/json", headers=self.headers)

    def put(self, path, body):
        return self.client.put(f"/api/homecare{path}", body, content_type="application/json", headers=self.headers)


def refusal(response, status: int, code: str) -> dict:
    assert response.status_code == status, (response.status_code, response.content)
    error = error_of(response)
    assert error["code"] == code, error
    return error


def ok(response, status: int = 200):
    assert response.status_code == status, (response.status_code, response.content)
    return response.json()
