"""The refusals of the documents library: a code (a short slug, the problem's `type` once a service maps it to a
422) and a plain sentence saying what is wrong."""

from __future__ import annotations


class DocumentError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail

    def __repr__(self) -> str:
        return f"DocumentError({self.code!r}, {self.detail!r})"
