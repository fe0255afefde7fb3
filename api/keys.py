"""/v1/keys: create (the secret is shown once), list, read and revoke API keys (admin)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import orjson
from aiohttp import web

from api.http import found, page_args, page_of, private_json, read_json
from api.routes import PAGE, Route, add
from core.errors import ApiError
from core.publish import Message, Publisher
from schemas.access import Key, KeyCreate, KeyList
from streams.apikeys import make_key, public, revoked
from streams.secretbox import SecretBox
from views.keys import KeysView

VISIBLE_TIMEOUT_S = 10.0


@dataclass
class KeysApi:
    """The key handlers, over the keys view, the master key's box and the publisher."""

    view: KeysView
    box: SecretBox
    publisher: Publisher

    async def _store(self, record: dict[str, object]) -> None:
        key_id = str(record["id"])
        await self.publisher.publish([Message("keys", key_id.encode(), orjson.dumps(record))])
        if not await self.view.wait_for(
            lambda: self.view.records.get(key_id) == record, VISIBLE_TIMEOUT_S
        ):
            raise ApiError(503, "not_ready", "the key is stored but not visible yet; retry")

    async def create(self, request: web.Request) -> web.Response:
        body: KeyCreate = await read_json(request, KeyCreate)
        return private_json(await self.create_key(body), 201)

    async def create_key(self, body: KeyCreate) -> dict[str, Any]:
        """A new key, stored (the API's and the console's way): its public record with the
        secret, which exists nowhere else in the clear."""
        try:
            record, secret = make_key(
                self.box, body.principal, body.roles, body.allowed_ips, body.expires_at, time.time()
            )
        except ValueError as exc:
            raise ApiError(422, "invalid_field", str(exc), "allowed_ips") from None
        await self._store(record)
        return {**public(record), "secret": secret}

    async def list(self, request: web.Request) -> web.Response:
        limit, cursor = page_args(request)
        page, nxt = page_of(sorted(k for k in self.view.records if k > cursor), limit)
        return private_json({"items": [self.view.public(k) for k in page], "cursor": nxt})

    async def get(self, request: web.Request) -> web.Response:
        key_id = request.match_info["id"]
        found(self.view.records, key_id, f"no key {key_id}", "id")
        return private_json(self.view.public(key_id))

    async def revoke(self, request: web.Request) -> web.Response:
        return private_json(await self.revoke_key(request.match_info["id"]))

    async def revoke_key(self, key_id: str) -> dict[str, Any] | None:
        """Revoke a key (the API's and the console's way); its public record."""
        record = found(self.view.records, key_id, f"no key {key_id}", "id")
        if not record.get("revoked"):
            await self._store(revoked(record, time.time()))
        return self.view.public(key_id)


def add_key_routes(
    a: web.Application, view: KeysView, box: SecretBox, publisher: Publisher
) -> None:
    """Register /v1/keys."""
    k = KeysApi(view, box, publisher)
    one = "/v1/keys/{id}"
    add(
        a,
        Route(
            "POST",
            "/v1/keys",
            k.create,
            "create a key (its secret is shown once)",
            "admin",
            "key.create",
            KeyCreate,
            Key,
            201,
        ),
    )
    add(
        a,
        Route(
            "GET",
            "/v1/keys",
            k.list,
            "list keys (never a secret)",
            "admin",
            answer=KeyList,
            query=PAGE,
        ),
    )
    add(a, Route("GET", one, k.get, "read a key", "admin", answer=Key))
    add(
        a,
        Route(
            "DELETE",
            one,
            k.revoke,
            "revoke a key (every worker refuses it within 5 s)",
            "admin",
            "key.revoke",
            answer=Key,
        ),
    )
