"""`GET /v1/openapi.json`: the OpenAPI 3.1 document of the whole API, generated from the route
table and the pydantic models its handlers read and answer with."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, Literal

from aiohttp import web
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from api.http import json_response
from api.routes import ROUTES, Route
from core import __version__
from schemas.answers import Error

REF = "#/components/schemas/{model}"
_PARAM = re.compile(r"\{([a-z_]+)\}")

SIGNING = (
    "Every request under /v1 (but this document) carries four headers: `bh-key` (the key "
    "id), `bh-timestamp` (unix seconds, within 300 s of the server's clock), `bh-nonce` (1 "
    "to 64 of A-Z a-z 0-9 _ -, new for every request) and `bh-signature`: `v1,` + base64 of "
    "HMAC-SHA256, keyed with the UTF-8 bytes of the whole secret, over "
    '`"{timestamp}\\n{nonce}\\n{METHOD}\\n{path_and_query}\\n{sha256_hex(body)}"`.'
)
SCHEMES = {
    "bhKey": ("bh-key", "the key id (`key_...`)"),
    "bhTimestamp": ("bh-timestamp", "unix seconds"),
    "bhNonce": ("bh-nonce", "new for every request"),
    "bhSignature": ("bh-signature", "`v1,` + base64 HMAC-SHA256 of the canonical request"),
}
ERRORS = {
    "400": "malformed request",
    "401": "unauthenticated, stale_timestamp or replayed",
    "403": "ip_not_allowed or forbidden",
    "404": "not found",
    "409": "conflict (idempotency_mismatch, already_exists, ...)",
    "413": "body too large",
    "422": "a field refused",
    "429": "rate_limited (see Retry-After)",
    "500": "internal: a bug, logged",
    "503": "not_ready or unavailable: nothing was lost, repeat the request",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "seconds to wait before trying again",
        "schema": {"type": "integer", "minimum": 1},
    }
}


def _models(routes: Iterable[Route]) -> dict[tuple[type[BaseModel], str], dict[str, Any]]:
    wanted: list[tuple[type[BaseModel], Literal["validation", "serialization"]]] = [
        (Error, "serialization")
    ]
    for r in routes:
        if r.body is not None:
            wanted.append((r.body, "validation"))
        if r.answer is not None:
            wanted.append((r.answer, "serialization"))
    refs, defs = models_json_schema(list(dict.fromkeys(wanted)), ref_template=REF)
    out: dict[tuple[type[BaseModel], str], dict[str, Any]] = {}
    for (model, mode), ref in refs.items():
        out[(model, mode)] = dict(ref)  # type: ignore[index]
    out[(BaseModel, "$defs")] = dict(defs.get("$defs", {}))
    return out


def _operation(r: Route, refs: dict[tuple[type[BaseModel], str], dict[str, Any]]) -> dict[str, Any]:
    error = {"content": {"application/json": {"schema": refs[(Error, "serialization")]}}}
    op: dict[str, Any] = {
        "operationId": r.method.lower() + _PARAM.sub(r"by_\1", r.path).replace("/", "_"),
        "summary": r.summary,
        "parameters": [
            {"name": n, "in": "path", "required": True, "schema": {"type": "string"}}
            for n in _PARAM.findall(r.path)
        ]
        + [
            {
                "name": q.name,
                "in": "query",
                "required": q.required,
                "description": q.description,
                "schema": q.schema,
            }
            for q in r.query
        ],
    }
    if r.changes_state and r.permission is not None:
        op["parameters"].append(
            {
                "name": "idempotency-key",
                "in": "header",
                "required": False,
                "description": "1 to 64 visible ASCII characters; a repeat within 24 h gets "
                "the first answer",
                "schema": {
                    "type": "string",
                    "minLength": 1,
                    "maxLength": 64,
                    "pattern": "^[!-~]+$",
                },
            }
        )
    if r.body is not None:
        op["requestBody"] = {
            "required": True,
            "content": {"application/json": {"schema": refs[(r.body, "validation")]}},
        }
    ok: dict[str, Any] = {"description": r.summary}
    if r.answer is not None:
        ok["content"] = {r.content_type: {"schema": refs[(r.answer, "serialization")]}}
    elif r.status != 204:
        ok["content"] = {r.content_type: {"schema": {}}}
    op["responses"] = {
        str(r.status): ok,
        **{c: {**error, "description": d} for c, d in ERRORS.items()},
    }
    op["responses"]["429"]["headers"] = RETRY_AFTER
    if r.changes_state:  # 409 idempotency_in_progress says when to try again
        op["responses"]["409"]["headers"] = RETRY_AFTER
    if r.permission is None:
        op["security"] = []
    else:
        op["description"] = f"Needs a key with a role that may `{r.permission}`."
    return op


def document(routes: Iterable[Route]) -> dict[str, Any]:
    """The OpenAPI document of these routes."""
    routes = sorted(routes, key=lambda r: (r.path, r.method))
    refs = _models(routes)
    paths: dict[str, dict[str, Any]] = {}
    for r in routes:
        paths.setdefault(r.path, {})[r.method.lower()] = _operation(r, refs)
    return {
        "openapi": "3.1.0",
        "info": {"title": "blockhook", "version": __version__, "description": SIGNING},
        "paths": paths,
        "components": {
            "schemas": refs[(BaseModel, "$defs")],
            "securitySchemes": {
                name: {"type": "apiKey", "in": "header", "name": h, "description": d}
                for name, (h, d) in SCHEMES.items()
            },
        },
        "security": [{name: [] for name in SCHEMES}],
    }


def add_openapi_route(a: web.Application) -> None:
    """Register /v1/openapi.json (built once, on the first request, from the whole table)."""
    cache: dict[str, web.Response] = {}

    async def openapi(request: web.Request) -> web.Response:
        if "doc" not in cache:
            cache["doc"] = json_response(document(request.app[ROUTES].values()))
        doc = cache["doc"]
        return web.Response(body=doc.body, content_type="application/json")

    from api.routes import add

    add(a, Route("GET", "/v1/openapi.json", openapi, "this document", None))
