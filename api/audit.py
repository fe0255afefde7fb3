"""/v1/audit: the hash-chained audit log, filtered and paged, and its verification (admin)."""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web

from api.http import json_response, page_args
from api.routes import PAGE, Query, Route, add
from core.errors import ApiError
from schemas.access import AuditList, AuditVerdict
from schemas.event import RFC3339_UTC
from views.audit import AuditView

_TIME = re.compile(RFC3339_UTC)


def add_audit_routes(a: web.Application, view: AuditView) -> None:
    """Register /v1/audit and /v1/audit/verify."""

    async def listing(request: web.Request) -> web.Response:
        q = request.query
        limit, cursor = page_args(request)
        if cursor and not cursor.isdigit():
            raise ApiError(400, "invalid_query", "cursor must be a seq", "cursor")
        for name in ("since", "until"):
            if q.get(name) and not _TIME.match(q[name]):
                raise ApiError(
                    400, "invalid_query", f"{name}: RFC 3339 UTC, like 2026-11-21T12:00:00Z", name
                )
        items: list[dict[str, Any]] = []
        more = False
        for rec in view.select(
            q.get("principal"),
            q.get("action"),
            q.get("target"),
            q.get("since"),
            q.get("until"),
            int(cursor or 0),
        ):
            if len(items) == limit:
                more = True
                break
            items.append(rec)
        nxt = str(items[-1].get("seq")) if more and items else None
        return json_response({"items": items, "cursor": nxt})

    async def verify(request: web.Request) -> web.Response:
        return json_response(view.verify().answer())

    filters = (
        Query("principal", "only this principal's records"),
        Query("action", "only this action, like monitor.create or auth.refused"),
        Query("target", "only records about this id"),
        Query("since", "from this time on (RFC 3339 UTC)"),
        Query("until", "before this time (RFC 3339 UTC)"),
        *PAGE,
    )
    add(
        a,
        Route(
            "GET",
            "/v1/audit",
            listing,
            "the audit log, in chain order",
            "admin",
            answer=AuditList,
            query=filters,
        ),
    )
    add(
        a,
        Route(
            "GET",
            "/v1/audit/verify",
            verify,
            "check the whole hash chain",
            "admin",
            answer=AuditVerdict,
        ),
    )
