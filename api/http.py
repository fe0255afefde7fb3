"""What every route shares: JSON answers, the error shape, body and listing arguments."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from importlib.resources.abc import Traversable
from typing import Any, Protocol, TypeVar

import orjson
from aiohttp import web
from pydantic import BaseModel, ValidationError

from core.errors import ApiError

logger = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

# Answers that name a customer's wallet, address or session are not for caches.
NO_STORE = {"Cache-Control": "no-store"}


def json_response(
    data: Any, status: int = 200, headers: Mapping[str, str] | None = None
) -> web.Response:
    """A JSON answer (orjson)."""
    return web.Response(
        body=orjson.dumps(data), status=status, content_type="application/json", headers=headers
    )


def private_json(data: Any, status: int = 200) -> web.Response:
    """A JSON answer no cache keeps."""
    return json_response(data, status, NO_STORE)


def error_response(status: int, code: str, message: str, field: str | None = None) -> web.Response:
    """The contract's error shape."""
    return json_response({"error": {"code": code, "message": message, "field": field}}, status)


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every failure becomes the contract's error shape; nothing a client sends crashes us."""
    return await answer(request, handler)


async def answer(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The handler's answer, or the error shape of what it raised."""
    try:
        return await handler(request)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message, exc.field)
    except web.HTTPRequestEntityTooLarge:
        return error_response(413, "body_too_large", "request body is too large")
    except web.HTTPNotFound:
        return error_response(404, "not_found", f"no route for {request.path}")
    except web.HTTPMethodNotAllowed:
        return error_response(405, "method_not_allowed", f"{request.method} not allowed here")
    except web.HTTPException:
        raise
    except Exception:
        logger.exception("unexpected error in %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error")


def validation_error(exc: ValidationError) -> ApiError:
    """A pydantic refusal as a 422 naming the first field it refused."""
    err = exc.errors()[0]
    field = ".".join(str(x) for x in err.get("loc", ())) or None
    msg = str(err.get("msg", "invalid value"))
    return ApiError(422, "invalid_field" if field else "invalid_body", msg, field)


async def read_json(request: web.Request, model: type[BaseModel]) -> Any:
    """Parse and validate a JSON body into model, or raise a 4xx ApiError."""
    raw = await request.read()
    if not raw:
        raise ApiError(400, "invalid_json", "request body is empty")
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise ApiError(400, "invalid_json", f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise ApiError(400, "invalid_json", "body must be a JSON object")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise validation_error(exc) from exc


def page_args(request: web.Request) -> tuple[int, str]:
    """The `limit` (1 to 1000, default 100) and `cursor` of a listing, or a 400."""
    try:
        limit = int(request.query.get("limit", "100"))
    except ValueError:
        raise ApiError(400, "invalid_query", "limit must be an integer", "limit") from None
    if not 1 <= limit <= 1000:
        raise ApiError(400, "invalid_query", "limit must be between 1 and 1000", "limit")
    return limit, request.query.get("cursor") or ""


def page_of(ids: list[str], limit: int) -> tuple[list[str], str | None]:
    """The first `limit` of sorted ids and the cursor after them (None on the last page)."""
    page = ids[:limit]
    return page, page[-1] if len(ids) > limit else None


class Lookup(Protocol[T_co]):
    """What a view's table answers: the item under a key, or None."""

    def get(self, key: str, /) -> T_co | None: ...


def found(table: Lookup[T], key: str, message: str, field: str) -> T:
    """table.get(key), or a 404 naming the field that pointed at nothing."""
    value = table.get(key)
    if value is None:
        raise ApiError(404, "not_found", message, field)
    return value


def static_file(root: Traversable, name: str, types: Mapping[str, str]) -> web.Response:
    """A file of a package's static folder by its bare name, if its suffix is one of `types`
    (suffix -> content type): no path, no dot-file, nothing else (a 404 ApiError)."""
    suffix = name[name.rfind(".") :] if "." in name else ""
    f = root.joinpath(name)
    if "/" in name or name.startswith(".") or suffix not in types or not f.is_file():
        raise ApiError(404, "not_found", "no such file")
    return web.Response(
        text=f.read_text(),
        content_type=types[suffix],
        headers={"Cache-Control": "max-age=300", "X-Content-Type-Options": "nosniff"},
    )
