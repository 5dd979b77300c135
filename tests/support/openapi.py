"""Checks of a service's /openapi.json that every HTTP contract test makes the same way."""

from __future__ import annotations

from typing import Any


def assert_every_answer_has_a_schema(document: dict[str, Any]) -> None:
    """Every operation documents a 2xx answer with a schema, and every POST/PUT a body schema."""
    for path, item in document["paths"].items():
        for method, operation in item.items():
            answers = {code: answer for code, answer in operation["responses"].items() if code.startswith("2")}
            assert answers, f"{method.upper()} {path} documents no 2xx answer"
            for code, answer in answers.items():
                schemas = [media.get("schema") for media in answer.get("content", {}).values()]
                assert schemas and all(schemas), f"{method.upper()} {path} {code}: no schema"
            if method in ("post", "put"):
                assert operation["requestBody"]["content"]["application/json"]["schema"], path
