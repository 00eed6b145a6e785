"""Every error leaves as RFC 9457 problem details: status, title, detail."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException
from loguru import logger

PROBLEM_JSON = "application/problem+json"


def problem(status: int, detail: str, **extra: Any) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"status": status, "title": HTTPStatus(status).phrase, "detail": detail}
    body.update(extra)
    return Response(body, status_code=status, media_type=PROBLEM_JSON)


def http_exception_to_problem(request: Request[Any, Any, Any], exc: HTTPException) -> Response[Any]:
    extra: dict[str, Any] = {}
    if isinstance(exc, ValidationException) and exc.extra:
        extra["errors"] = exc.extra  # which parameter or field, and why
    response = problem(exc.status_code, exc.detail, **extra)
    if exc.headers:
        response.headers.update(exc.headers)
    return response


def unexpected_error_to_problem(request: Request[Any, Any, Any], exc: Exception) -> Response[Any]:
    # The traceback goes to the log, never to the caller.
    logger.opt(exception=exc).error(
        "Unhandled error on {method} {path}", method=request.method, path=request.url.path
    )
    return problem(500, "the server failed to handle this request; the error has been logged")


EXCEPTION_HANDLERS = {
    HTTPException: http_exception_to_problem,
    Exception: unexpected_error_to_problem,
}
