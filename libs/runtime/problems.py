"""Every error leaves as RFC 9457 problem details: status, title, detail.

This is the one error path. Handlers raise; Litestar's own exceptions and each service's
domain errors (declared once, with their status, in its plugin's `problems`) are turned
into problem details here. A domain error may add members with `problem_extra()`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

import nats.errors
from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from loguru import logger

from libs.bus import PublishError

PROBLEM_JSON = "application/problem+json"
_LITESTAR_VALIDATION = "Validation failed for "


def problem(status: int, detail: str, **extra: Any) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"status": status, "title": HTTPStatus(status).phrase, "detail": detail}
    body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON)


def http_exception_to_problem(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    if exc.status_code == 500:  # Litestar's own 500s describe its internals
        return unexpected_error_to_problem(request, exc)
    detail = exc.detail
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException):
        if detail.startswith(_LITESTAR_VALIDATION):
            # Litestar's detail repeats the query string, where a client may have put a key.
            detail = f"{_LITESTAR_VALIDATION}{request.method} {request.url.path}"
        if exc.extra:
            extra["errors"] = exc.extra  # which parameter or field, and why
    response = problem(exc.status_code, detail, **extra)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def unexpected_error_to_problem(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The traceback goes to the log, never to the caller.
    logger.opt(exception=exc).error(
        "Unhandled error on {method} {path}", method=request.method, path=request.url.path
    )
    return problem(500, "the server failed to handle this request; the error has been logged")


def nats_unavailable_to_problem(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # A user's request that could not be recorded is refused, not half-done: the caller
    # sends it again (every event's id is deterministic, so what was stored counts once).
    logger.warning(
        "{method} {path}: NATS unavailable: {error}",
        method=request.method,
        path=request.url.path,
        error=str(exc),
    )
    response = problem(
        503,
        f"NATS, the event store, is unavailable ({type(exc).__name__}); the request was not "
        "recorded as done: send it again shortly",
    )
    response.headers["Retry-After"] = "5"
    return response


ProblemHandler = Callable[[Request[Any, Any, Any], Exception], Response[Any]]


def domain_error_handler(status: int) -> ProblemHandler:
    def to_problem(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
        extra = exc.problem_extra() if hasattr(exc, "problem_extra") else {}
        if status >= 500:
            logger.warning("{path}: {error}", path=request.url.path, error=str(exc))
        else:
            logger.info("{path} refused: {error}", path=request.url.path, error=str(exc))
        return problem(status, str(exc), **extra)

    return to_problem


def exception_handlers(
    statuses: Mapping[type[Exception], int],
) -> dict[type[Exception], ProblemHandler]:
    """Litestar's handlers for its own exceptions, for every listed domain error, for NATS
    unavailable (a 503 that names it), and for anything unexpected (a 500 that names nothing
    internal)."""
    handlers: dict[type[Exception], ProblemHandler] = {
        HTTPException: http_exception_to_problem,  # type: ignore[dict-item]
        Exception: unexpected_error_to_problem,
        PublishError: nats_unavailable_to_problem,
        nats.errors.Error: nats_unavailable_to_problem,
    }
    handlers.update({error: domain_error_handler(status) for error, status in statuses.items()})
    return handlers
