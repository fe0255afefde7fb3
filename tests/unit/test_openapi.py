"""The OpenAPI document at /v1/openapi.json (api/openapi.py): a valid OpenAPI 3 document of
exactly the app's route table, with the security, idempotency and body models the gate and
the handlers really use."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import jsonschema_rs
import orjson
import pytest
import schemathesis
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from pydantic import BaseModel
from schemathesis.core.result import Ok

from api.auth import protected
from api.openapi import document
from api.routes import ROUTES, Route
from api.server import AlwaysReady, Api
from core.publish import ListPublisher
from core.settings import Settings
from schemas.access import AuditList, Key, KeyCreate, KeyList
from schemas.answers import Error, MonitorAnswer
from schemas.monitor import MonitorCreate, MonitorPatch
from streams.secretbox import SecretBox
from tests.unit.test_auth_gate import MONITOR, Cred, Harness, running
from views.keys import KeysView
from views.monitors import MonitorsView

SCHEMES = {"bhKey": "bh-key", "bhTimestamp": "bh-timestamp", "bhNonce": "bh-nonce"}
SCHEMES["bhSignature"] = "bh-signature"
REF = "#/components/schemas/"
_PARAM = re.compile(r"\{([a-z_]+)\}")


def application() -> web.Application:
    """The whole app, access control on, key routes included."""
    s = Settings(broker="kafka://127.0.0.1:1", auth={"enabled": True})
    box = SecretBox(bytes(range(32)))
    api_ = Api(s, MonitorsView(s), ListPublisher(), AlwaysReady(), keys=KeysView(s, box), box=box)
    return api_.app()


@pytest.fixture
async def served() -> AsyncIterator[tuple[web.Application, dict[str, Any]]]:
    """The app and the document it serves (fetched without any key)."""
    app = application()
    async with TestClient(TestServer(app)) as client:
        resp = await client.get("/v1/openapi.json")
        assert resp.status == 200, await resp.text()
        assert resp.content_type == "application/json"
        doc: dict[str, Any] = orjson.loads(await resp.read())
        again = await client.get("/v1/openapi.json")
        assert orjson.loads(await again.read()) == doc
        yield app, doc


def table(app: web.Application) -> dict[tuple[str, str], Route]:
    return app[ROUTES]


def operation(doc: dict[str, Any], r: Route) -> dict[str, Any]:
    op: dict[str, Any] = doc["paths"][r.path][r.method.lower()]
    return op


def security(doc: dict[str, Any], op: dict[str, Any]) -> list[dict[str, list[str]]]:
    """The operation's security requirement (its own, or the document's)."""
    out: list[dict[str, list[str]]] = op.get("security", doc.get("security", []))
    return out


def ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF + model.__name__}


def schema_of(doc: dict[str, Any], model: type[BaseModel]) -> jsonschema_rs.Validator:
    """A validator of the document's schema for the model (its references resolved in the
    document's components)."""
    return jsonschema_rs.validator_for({**ref(model), "components": doc["components"]})


def test_it_is_an_openapi_3_document(served: tuple[web.Application, dict[str, Any]]) -> None:
    _, doc = served
    assert re.fullmatch(r"3\.[01]\.[0-9]+", doc["openapi"])
    assert doc["info"]["title"] == "blockhook" and doc["info"]["version"]
    assert "bh-signature" in doc["info"]["description"]


def test_it_validates_as_an_openapi_document(
    served: tuple[web.Application, dict[str, Any]],
) -> None:
    app, doc = served
    schema = schemathesis.openapi.from_dict(doc)
    schema.validate()  # against the OpenAPI meta-schema
    ops = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result
        ops.append(result.ok())
    assert {(o.method.upper(), o.path) for o in ops} == set(table(app))


def test_the_validator_refuses_a_broken_document(
    served: tuple[web.Application, dict[str, Any]],
) -> None:
    _, doc = served
    broken = {**doc, "paths": {"/v1/x": {"get": {"responses": {"200": {"content": 1}}}}}}
    with pytest.raises(jsonschema_rs.ValidationError):
        schemathesis.openapi.from_dict(broken).validate()


def test_it_documents_exactly_the_route_table(
    served: tuple[web.Application, dict[str, Any]],
) -> None:
    app, doc = served
    routes = table(app)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    assert documented == set(routes)
    v1 = {(m, p) for m, p in routes if p.startswith("/v1")}
    for want in [
        ("POST", "/v1/keys"),
        ("GET", "/v1/keys"),
        ("DELETE", "/v1/keys/{id}"),
        ("GET", "/v1/audit"),
        ("GET", "/v1/audit/verify"),
        ("POST", "/v1/monitors"),
        ("PATCH", "/v1/monitors/{id}"),
        ("GET", "/v1/openapi.json"),
    ]:
        assert want in v1
    # ... and aiohttp routes every one of them, so the table is what is served.
    served_routes = {
        (r.method, r.resource.canonical) for r in app.router.routes() if r.resource is not None
    }
    assert v1 <= served_routes
    assert document(routes.values()) == doc
    ids = [op["operationId"] for ops in doc["paths"].values() for op in ops.values()]
    assert len(ids) == len(set(ids))


def test_path_parameters_are_declared(served: tuple[web.Application, dict[str, Any]]) -> None:
    app, doc = served
    for r in table(app).values():
        params = operation(doc, r)["parameters"]
        in_path = {p["name"] for p in params if p["in"] == "path"}
        assert in_path == set(_PARAM.findall(r.path)), r.path
        assert all(p["required"] for p in params if p["in"] == "path")


def test_the_security_schemes_are_the_four_signature_headers(
    served: tuple[web.Application, dict[str, Any]],
) -> None:
    _, doc = served
    schemes = doc["components"]["securitySchemes"]
    assert {n: (s["type"], s["in"], s["name"]) for n, s in schemes.items()} == {
        n: ("apiKey", "header", h) for n, h in SCHEMES.items()
    }


def test_protected_routes_need_the_signature_and_public_ones_do_not(
    served: tuple[web.Application, dict[str, Any]],
) -> None:
    app, doc = served
    every_header: list[dict[str, list[str]]] = [{name: [] for name in SCHEMES}]
    for r in table(app).values():
        needed = security(doc, operation(doc, r))
        if protected(r.path):  # what the gate enforces is what is documented
            assert needed == every_header, (r.method, r.path)
            assert r.permission is not None, (r.method, r.path)
            assert "401" in operation(doc, r)["responses"]
        else:
            assert needed == [], (r.method, r.path)
    assert security(doc, doc["paths"]["/v1/openapi.json"]["get"]) == []
    assert security(doc, doc["paths"]["/v1/keys"]["post"]) == every_header


def test_changes_document_the_idempotency_key(
    served: tuple[web.Application, dict[str, Any]],
) -> None:
    app, doc = served
    changes = 0
    for r in table(app).values():
        headers = {p["name"]: p for p in operation(doc, r)["parameters"] if p["in"] == "header"}
        if r.method in ("POST", "PATCH", "PUT", "DELETE"):
            changes += 1
            idem = headers["idempotency-key"]
            assert idem["required"] is False
            assert (idem["schema"]["minLength"], idem["schema"]["maxLength"]) == (1, 64)
        else:
            assert "idempotency-key" not in headers, (r.method, r.path)
    assert changes >= 8


@pytest.mark.parametrize(
    ("method", "path", "body", "answer", "status"),
    [
        ("POST", "/v1/keys", KeyCreate, Key, "201"),
        ("GET", "/v1/keys", None, KeyList, "200"),
        ("DELETE", "/v1/keys/{id}", None, Key, "200"),
        ("POST", "/v1/monitors", MonitorCreate, MonitorAnswer, "201"),
        ("PATCH", "/v1/monitors/{id}", MonitorPatch, MonitorAnswer, "200"),
        ("GET", "/v1/audit", None, AuditList, "200"),
    ],
)
def test_bodies_and_answers_are_the_handlers_models(
    served: tuple[web.Application, dict[str, Any]],
    method: str,
    path: str,
    body: type[BaseModel] | None,
    answer: type[BaseModel],
    status: str,
) -> None:
    app, doc = served
    r = table(app)[(method, path)]
    assert (r.body, r.answer) == (body, answer)
    op = operation(doc, r)
    if body is None:
        assert "requestBody" not in op
    else:
        assert op["requestBody"]["content"]["application/json"]["schema"] == ref(body)
        assert op["requestBody"]["required"] is True
    assert op["responses"][status]["content"]["application/json"]["schema"] == ref(answer)
    for model in (body, answer):
        if model is not None:
            component = doc["components"]["schemas"][model.__name__]
            assert set(component["properties"]) == set(model.model_fields)
    error = op["responses"]["403"]["content"]["application/json"]["schema"]
    assert error == ref(Error)


def test_every_model_reference_resolves(served: tuple[web.Application, dict[str, Any]]) -> None:
    _, doc = served
    names = set(doc["components"]["schemas"])
    refs = re.findall(r'"\$ref":"#/components/schemas/([^"]+)"', orjson.dumps(doc).decode())
    assert refs and set(refs) <= names


def test_the_key_body_schema_refuses_what_the_handler_refuses(
    served: tuple[web.Application, dict[str, Any]],
) -> None:
    _, doc = served
    v = schema_of(doc, KeyCreate)
    good = {"principal": "carol", "roles": ["viewer"], "allowed_ips": ["10.0.0.0/8"]}
    assert v.is_valid(good)
    KeyCreate.model_validate(good)
    for bad in (
        {"roles": ["viewer"]},
        {"principal": "carol", "roles": []},
        {"principal": "carol", "roles": ["root"]},
        {"principal": "carol", "roles": ["viewer"], "secret": "bhsk_x"},
        {"principal": "carol", "roles": ["viewer"], "expires_at": "tomorrow"},
    ):
        assert not v.is_valid(bad), bad
        with pytest.raises(ValueError):
            KeyCreate.model_validate(bad)


async def test_real_answers_match_the_documented_schemas(
    served: tuple[web.Application, dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    _, doc = served
    async with running(monkeypatch) as h:
        admin = await h.key("root", ["admin"])
        await answers_match(h, doc, admin)


async def answers_match(h: Harness, doc: dict[str, Any], admin: Cred) -> None:
    made = await h.call(admin, "POST", "/v1/keys", {"principal": "carol", "roles": ["viewer"]})
    assert made.status == 201
    assert schema_of(doc, Key).is_valid(made.data), made.text
    listing = await h.call(admin, "GET", "/v1/keys")
    assert schema_of(doc, KeyList).is_valid(listing.data), listing.text
    monitor = await h.call(admin, "POST", "/v1/monitors", MONITOR)
    assert monitor.status == 201 and schema_of(doc, MonitorAnswer).is_valid(monitor.data)
    refused = await h.call(None, "GET", "/v1/keys")
    assert refused.status == 401 and schema_of(doc, Error).is_valid(refused.data)
    audit = await h.call(admin, "GET", "/v1/audit")
    assert len(audit.data["items"]) == 3  # key.create, monitor.create, auth.refused
    assert schema_of(doc, AuditList).is_valid(audit.data), audit.text
    assert not schema_of(doc, Key).is_valid({**made.data, "extra": 1})
