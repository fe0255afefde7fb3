"""API keys, operators and the audit log in the console (admin)."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web
from pydantic import ValidationError

from api.http import validation_error
from console.context import OPERATOR, Console
from console.csvout import csv_response
from console.forms import field, fields
from console.store import save_operator
from core.errors import ApiError
from core.timefmt import iso_utc
from schemas.access import KeyCreate
from streams import operators as ops
from streams.consolequery import iso_bound, time_bound
from streams.roles import ROLES

AUDIT_PAGE = 200


class AdminPages:
    def __init__(self, c: Console) -> None:
        self.c = c

    # API keys

    async def keys(self, request: web.Request, status: int = 200, **extra: Any) -> web.Response:
        view = self.c.keys
        rows = [view.public(k) for k in sorted(view.records)] if view is not None else []
        return self.c.render(request, "keys.html", status, rows=rows, roles=ROLES, **extra)

    async def create_key(self, request: web.Request) -> web.Response:
        if self.c.key_api is None:
            raise ApiError(409, "no_keys", "API keys need access control (and its master key).")
        form = await request.post()
        ips = [r for r in field(form, "allowed_ips", 4000).replace(",", " ").split() if r]
        data = {
            "principal": field(form, "principal", 128),
            "roles": fields(form, "roles", 16),
            "allowed_ips": ips,
            "expires_at": field(form, "expires_at", 40) or None,
        }
        try:
            key = await self.c.key_api.create_key(KeyCreate.model_validate(data))
        except (ValidationError, ApiError) as exc:
            err = validation_error(exc) if isinstance(exc, ValidationError) else exc
            await self.c.audited(
                request, "key.create", None, "error", err.status, {"code": err.code}
            )
            msg = f"{err.field}: {err.message}" if err.field else err.message
            return await self.keys(request, 422, error=msg)
        await self.c.audited(
            request,
            "key.create",
            key["id"],
            "ok",
            201,
            {"principal": key["principal"], "roles": key["roles"]},
        )
        return self.c.render(request, "key_created.html", 201, key=key)

    async def revoke_key(self, request: web.Request) -> web.Response:
        if self.c.key_api is None:
            raise ApiError(409, "no_keys", "API keys need access control (and its master key).")
        kid = request.match_info["id"]
        await self.c.key_api.revoke_key(kid)
        await self.c.audited(request, "key.revoke", kid, "ok", 200)
        return self.c.back(request, "/admin/keys", f"Key {kid} revoked.")

    # Operators

    async def operators(
        self, request: web.Request, status: int = 200, **extra: Any
    ) -> web.Response:
        rows = [ops.public(o) for _, o in sorted(self.c.operators.operators.items())]
        return self.c.render(
            request, "operators.html", status, rows=rows, roles=ops.CONSOLE_ROLES, **extra
        )

    async def create_operator(self, request: web.Request) -> web.Response:
        form = await request.post()
        name = field(form, "name", 128)
        try:
            ops.check_name(name)
            roles = ops.check_roles(fields(form, "roles", 16))
        except ops.OperatorError as exc:
            return await self.operators(request, 422, error=str(exc))
        if name in self.c.operators.operators:
            return await self.operators(request, 409, error=f"An operator {name} exists.")
        password = ops.new_password()
        hashed = await asyncio.to_thread(ops.hash_password, password)
        await save_operator(self.c, ops.new_operator(name, roles, hashed, iso_utc(self.c.now())))
        await self.c.audited(request, "operator.create", name, "ok", 201, {"roles": roles})
        return self.c.render(request, "operator_created.html", 201, name=name, password=password)

    async def change_operator(self, request: web.Request) -> web.Response:
        """disable, enable, or sign out everywhere another operator."""
        name, verb = request.match_info["name"], request.match_info["verb"]
        op = self.c.operators.operators.get(name)
        if op is None:
            raise ApiError(404, "not_found", "There is no such operator.")
        if name == request[OPERATOR].name and verb == "disable":
            return self.c.back(request, "/admin/operators", error="You cannot disable yourself.")
        at = iso_utc(self.c.now())
        if verb == "disable":
            new = ops.signed_out_everywhere(ops.changed(op, at, disabled=True), at)
        elif verb == "enable":
            new = ops.changed(op, at, disabled=False)
        else:
            new = ops.signed_out_everywhere(op, at)
        await save_operator(self.c, new)
        await self.c.audited(request, f"operator.{verb}", name, "ok", 200)
        return self.c.back(request, "/admin/operators", f"{name}: {verb} done.")

    # The audit log

    def _audit(self, request: web.Request) -> tuple[dict[str, str], list[dict[str, Any]], str]:
        keys = ("principal", "action", "target", "since", "until")
        q = {k: request.query.get(k, "")[:200] for k in keys}
        try:
            since, until = iso_bound(time_bound(q["since"])), iso_bound(time_bound(q["until"]))
        except ValueError as exc:
            return q, [], str(exc)
        recs = list(
            self.c.audit.select(
                q["principal"] or None, q["action"] or None, q["target"] or None, since, until
            )
        )
        return q, recs, ""

    async def audit(self, request: web.Request) -> web.Response:
        q, recs, error = self._audit(request)
        recs.reverse()  # newest first
        verdict = self.c.audit.verify() if request.query.get("verify") else None
        return self.c.render(
            request,
            "audit.html",
            q=q,
            rows=recs[:AUDIT_PAGE],
            total=len(recs),
            verdict=verdict,
            qs=request.query_string,
            error=error,
        )

    async def export_audit(self, request: web.Request) -> web.StreamResponse:
        _, recs, _ = self._audit(request)
        head = [
            "seq",
            "at",
            "principal",
            "key_id",
            "ip",
            "action",
            "target",
            "outcome",
            "status",
            "request_id",
            "detail",
            "prev_hash",
            "hash",
        ]
        rows = [
            [
                *(r.get(k) for k in head[:10]),
                orjson.dumps(r.get("detail") or {}).decode(),
                r.get("prev_hash"),
                r.get("hash"),
            ]
            for r in recs
        ]
        await self.c.audited(request, "export.audit", None, "ok", 200, {"rows": len(rows)})
        return csv_response("audit.csv", head, rows)
