"""The route table: every API route with the permission it needs, the audit action it is
recorded as, and the pydantic models of its body and answer.

The auth gate reads it to authorise and audit a request, and the OpenAPI document is
generated from it, so what is enforced, what is audited and what is documented are one
list."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from api.http import Handler

CHANGING = frozenset({"POST", "PATCH", "PUT", "DELETE"})  # methods that change something


@dataclass(frozen=True, slots=True)
class Query:
    """A query parameter, as documented."""

    name: str
    description: str
    schema: dict[str, Any] = field(default_factory=lambda: {"type": "string"})
    required: bool = False


@dataclass(frozen=True, slots=True)
class Route:
    """One route. `permission` None: public (no key). `action`: the audit action of a
    state-changing route (`<resource>.<verb>`)."""

    method: str
    path: str
    handler: Handler
    summary: str
    permission: str | None
    action: str | None = None
    body: type[BaseModel] | None = None
    answer: type[BaseModel] | None = None
    status: int = 200
    query: tuple[Query, ...] = ()
    content_type: str = "application/json"

    @property
    def changes_state(self) -> bool:
        return self.method in CHANGING


ROUTES = web.AppKey("routes", dict[tuple[str, str], Route])

PAGE = (
    Query("limit", "page size, 1 to 1000 (default 100)", {"type": "integer"}),
    Query("cursor", "where the previous page ended"),
)


def add(a: web.Application, r: Route) -> None:
    """Register the route with aiohttp and in the app's route table."""
    table = a.get(ROUTES)
    if table is None:
        table = a[ROUTES] = {}
    table[(r.method, r.path)] = r
    a.router.add_route(r.method, r.path, r.handler)


def route_of(request: web.Request) -> Route | None:
    """The table's route for a request that aiohttp matched, or None."""
    table = request.app.get(ROUTES) or {}
    resource = request.match_info.route.resource
    if resource is None:
        return None
    return table.get((request.method, resource.canonical))
