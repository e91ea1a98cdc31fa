"""Error answers: ``{"detail": message}``, plus ``"field"`` when a request field is at fault.

A route raises :class:`Problem` (or returns :func:`problem_response`) instead of building
its own JSON; a body that pydantic refuses becomes a 422 naming its field through
:func:`validation_problem`.
"""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class Problem(Exception):
    """An error answer: HTTP ``status``, a one-line ``message``, the request ``field`` at
    fault (if any) and extra response ``headers``."""

    def __init__(self, status: int, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.field, self.headers = status, message, field, headers


def problem_response(status: int, message: str, field: str | None = None,
                     headers: dict[str, str] | None = None) -> JSONResponse:
    """The JSON answer of an error."""
    body: dict[str, Any] = {"detail": message}
    if field is not None:
        body["field"] = field
    return JSONResponse(body, status_code=status, headers=headers)


def validation_problem(exc: RequestValidationError) -> Problem:
    """The first validation error as a 422 ``Problem`` whose message starts ``field:``."""
    errors = exc.errors()
    if not errors:
        return Problem(422, "body: invalid request", "body")
    first = errors[0]
    if first.get("type") == "json_invalid":  # loc holds the character position, not a field
        where = [part for part in first.get("loc", ()) if isinstance(part, int)]
        at = f" at character {where[0]}" if where else ""
        reason = (first.get("ctx") or {}).get("error", "invalid JSON")
        return Problem(422, f"body: not valid JSON{at} ({reason}); was it cut off?", "body")
    # ("body", "bars") or ("query", "limit"): the field is what follows where it was sent
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query")]
    field = ".".join(loc) or "body"
    message = str(first.get("msg", "invalid value"))
    if field == "body":
        message = "the body must be a JSON object such as {\"model\": ..., \"bars\": 16}"
    elif first.get("type") == "extra_forbidden":
        message = "unknown field"
    return Problem(422, f"{field}: {message}", field)


async def on_problem(_: Request, exc: Exception) -> JSONResponse:
    """Exception handler for :class:`Problem`."""
    assert isinstance(exc, Problem)
    return problem_response(exc.status, exc.message, exc.field, exc.headers)


async def on_validation_error(_: Request, exc: Exception) -> JSONResponse:
    """Exception handler for a refused request body or query."""
    assert isinstance(exc, RequestValidationError)
    return await on_problem(_, validation_problem(exc))
