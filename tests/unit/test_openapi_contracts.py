"""Every service's /openapi.json, as a caller generating a client reads it: every operation
answers a body with a schema, every error is an RFC 9457 problem with its type, and POST
/orders takes exactly the `order.placed` payload."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from shared.event_registry import EVENT_MODELS
from shared.http_problems import PROBLEM_JSON
from shared.settings import KafkaSettings

SERVICES = {"orders": "OrdersSettings", "inventory": "InventorySettings", "logistics": "LogisticsSettings",
            "aftersales": "AftersalesSettings"}


PROBES = ("/healthz", "/readyz", "/brokerz")


def openapi_of(name: str, tmp_path) -> dict[str, Any]:
    settings_class = getattr(importlib.import_module(f"services.{name}.settings"), SERVICES[name])
    app = importlib.import_module(f"services.{name}.app").build_app(
        settings_class(database_url=f"sqlite:///{tmp_path / name}.sqlite"), KafkaSettings())
    return app.openapi()


def operations(spec: dict[str, Any]):
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            yield method, path, operation


@pytest.mark.parametrize("name", SERVICES)
def test_every_operation_answers_a_body_with_a_schema(name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AUTH_SECRET", "openapi-test-secret-0123456789abcdef012345")
    spec = openapi_of(name, tmp_path)
    without = [(method, path) for method, path, operation in operations(spec)
               if not any(code.startswith("2") and any(media.get("schema") for media in answer.get("content", {}).values())
                          for code, answer in operation["responses"].items())]
    assert without == []
    assert len(spec["paths"]) >= 10


@pytest.mark.parametrize("name", SERVICES)
def test_every_documented_error_is_a_problem_body(name: str, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AUTH_SECRET", "openapi-test-secret-0123456789abcdef012345")
    spec = openapi_of(name, tmp_path)
    for method, path, operation in operations(spec):
        # The probes' 503 is their answer (what is missing), not an error of the request.
        errors = {code: answer for code, answer in operation["responses"].items()
                  if code[0] in "45" and not (path in PROBES and code == "503")}
        assert "422" in errors, (method, path)
        for code, answer in errors.items():
            assert list(answer["content"]) == [PROBLEM_JSON], (method, path, code)
            assert "/problems/" in answer["description"] or "about:blank" in answer["description"], (method, path)


def test_post_orders_takes_the_order_placed_payload(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("AUTH_SECRET", "openapi-test-secret-0123456789abcdef012345")
    spec = openapi_of("orders", tmp_path)
    body = spec["paths"]["/orders"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    name = body["$ref"].rsplit("/", 1)[1]
    assert name == EVENT_MODELS[("order.placed", 1)].__name__
    documented = spec["components"]["schemas"][name]
    assert set(documented["properties"]) == set(EVENT_MODELS[("order.placed", 1)].model_fields)
    assert set(documented["required"]) == {n for n, f in EVENT_MODELS[("order.placed", 1)].model_fields.items()
                                           if f.is_required()}
