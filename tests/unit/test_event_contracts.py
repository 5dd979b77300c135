"""Event contracts that cannot break silently (issue 28, item 6).

(a) Every registered (type, dataversion) has its JSON Schema committed under contracts/events/,
    equal to the one its payload model gives now: a contract change is a file a reviewer sees.
(b) Against those committed schemas the current models take no breaking change, unless the
    type moved to a higher dataversion (tools/contract_compat.py says what breaks).
(c) The compatibility checker itself: one hand-written pair per kind of change, and properties.
(d) A real payload of every type validates against its committed schema (jsonschema), and the
    schema refuses it without a required field, as the model does.
"""

from __future__ import annotations

import copy
import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from jsonschema import Draft202012Validator, FormatChecker
from pydantic import ValidationError

from shared.event_registry import EVENT_MODELS
from tests.support.fuzz_records import sample
from tools import contract_compat as cc
from tools import contract_schemas
from tools.contract_schemas import REGENERATE, SCHEMA_DIR, file_name, render

COMMITTED = contract_schemas.load_committed()
ALL_TYPES = sorted({t for t, _v in EVENT_MODELS} | {t for t, _v in COMMITTED})


# ---------------------------------------------------------------------------------------------
# (a) committed = generated


@pytest.mark.parametrize("key", sorted(EVENT_MODELS), ids=lambda key: file_name(*key))
def test_every_registered_payload_has_its_schema_committed(key: tuple[str, int]) -> None:
    path = SCHEMA_DIR / file_name(*key)
    assert path.exists(), f"no committed schema for {key}: run `{REGENERATE}` and commit {path.name}"
    assert path.read_text(encoding="utf-8") == render(contract_schemas.generate()[key]), (
        f"contracts/events/{path.name} differs from the model: run `{REGENERATE}` and commit it "
        "(it refuses a breaking change: that needs a new dataversion, see contracts/README.md)")


def test_check_lists_what_differs_and_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert contract_schemas.main(["--write"], directory=tmp_path) == 0
    assert contract_schemas.main(["--check"], directory=tmp_path) == 0
    placed = tmp_path / "order.placed.v1.schema.json"
    placed.write_text(placed.read_text().replace('"title": "OrderPlaced"', '"title": "Edited"'))
    (tmp_path / "refund.issued.v1.schema.json").unlink()
    capsys.readouterr()
    assert contract_schemas.main(["--check"], directory=tmp_path) == 1
    out, err = capsys.readouterr()
    assert "differs: order.placed.v1.schema.json" in out and '+  "title": "OrderPlaced"' in out
    assert "missing: refund.issued.v1.schema.json" in out
    assert REGENERATE in err


def test_write_refuses_a_breaking_change_and_writes_the_rest(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    contract_schemas.write(tmp_path)
    before = (tmp_path / "order.placed.v1.schema.json").read_text()
    edited = _with_required_first_order()
    monkeypatch.setattr(contract_schemas, "generate", lambda models=None: edited)
    refused = contract_schemas.write(tmp_path)
    assert len(refused) == 1 and "first_order: property newly required" in refused[0]
    assert (tmp_path / "order.placed.v1.schema.json").read_text() == before


def test_the_files_are_deterministic() -> None:
    again = contract_schemas.generate()
    assert [render(d) for d in again.values()] == [render(d) for d in contract_schemas.generate().values()]
    text = render(again[("order.placed", 1)])
    assert text.endswith("}\n") and '\n  "$schema"' in text and json.loads(text) == again[("order.placed", 1)]


# ---------------------------------------------------------------------------------------------
# (b) no breaking change without a new dataversion


def assert_compatible(type_: str) -> None:
    problems = contract_schemas.compatibility_problems(type_, contract_schemas.load_committed(),
                                                       contract_schemas.generate())
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("type_", ALL_TYPES)
def test_no_breaking_change_without_a_new_dataversion(type_: str) -> None:
    assert_compatible(type_)


def _with_required_first_order() -> dict[tuple[str, int], dict[str, Any]]:
    current = contract_schemas.generate()
    current[("order.placed", 1)]["required"].append("first_order")
    return current


def test_a_field_made_required_fails_the_contract_test(monkeypatch: pytest.MonkeyPatch) -> None:
    edited = _with_required_first_order()
    monkeypatch.setattr(contract_schemas, "generate", lambda models=None: edited)
    with pytest.raises(AssertionError, match=r"(?s)order.placed v1 changed incompatibly.*first_order: property "
                                             r"newly required.*\('order.placed', 2\)"):
        test_no_breaking_change_without_a_new_dataversion("order.placed")


def test_a_field_removed_from_a_nested_part_fails_every_type_using_it(monkeypatch: pytest.MonkeyPatch) -> None:
    current = contract_schemas.generate()
    for key, document in current.items():
        if "OrderLine" in document.get("$defs", {}):
            del document["$defs"]["OrderLine"]["properties"]["unit_price"]
            document["$defs"]["OrderLine"]["required"].remove("unit_price")
    monkeypatch.setattr(contract_schemas, "generate", lambda models=None: current)
    for type_ in ("order.placed", "order.accepted", "stock.reserved", "exchange.requested"):
        with pytest.raises(AssertionError, match=r"lines\[\]\.unit_price: property removed"):
            assert_compatible(type_)
    assert_compatible("refund.issued")


def test_the_same_change_under_a_new_dataversion_passes(monkeypatch: pytest.MonkeyPatch) -> None:
    current = _with_required_first_order()
    current[("order.placed", 2)] = current.pop(("order.placed", 1))
    monkeypatch.setattr(contract_schemas, "generate", lambda models=None: current)
    assert_compatible("order.placed")


def test_a_kept_old_version_must_still_match_its_schema(monkeypatch: pytest.MonkeyPatch) -> None:
    current = _with_required_first_order()  # v1 edited in place, although v2 exists
    current[("order.placed", 2)] = copy.deepcopy(current[("order.placed", 1)])
    monkeypatch.setattr(contract_schemas, "generate", lambda models=None: current)
    with pytest.raises(AssertionError, match="order.placed v1 changed incompatibly"):
        assert_compatible("order.placed")


def test_older_schemas_stay_and_a_retired_type_is_retired_on_purpose() -> None:
    v1 = COMMITTED[("refund.issued", 1)]
    problems = contract_schemas.compatibility_problems
    assert "refund.issued.v1.schema.json is missing" in problems("refund.issued", {}, {("refund.issued", 2): v1})[0]
    assert "is retired on purpose, delete" in problems("refund.issued", {("refund.issued", 1): v1}, {})[0]
    assert "never goes back" in problems("refund.issued", {("refund.issued", 2): v1}, {("refund.issued", 1): v1})[0]
    assert problems("refund.issued", {("refund.issued", 1): v1}, {("refund.issued", 2): {}}) == []


# ---------------------------------------------------------------------------------------------
# (c) the checker


def obj(props: dict[str, Any], required: tuple[str, ...] = (), **extra: Any) -> dict[str, Any]:
    return {"type": "object", "properties": props, "required": list(required), "additionalProperties": False,
            **extra}


S, I, N, NULL = {"type": "string"}, {"type": "integer"}, {"type": "number"}, {"type": "null"}
LINE = obj({"sku": S, "quantity": {"type": "integer", "exclusiveMinimum": 0, "maximum": 100}}, ("sku", "quantity"))


def with_line(line: dict[str, Any], ref: str = "OrderLine") -> dict[str, Any]:
    """A payload whose `lines` items are a `$ref` to a `$defs` part, as pydantic writes them."""
    return obj({"lines": {"type": "array", "items": {"$ref": f"#/$defs/{ref}"}}}, ("lines",), **{"$defs": {ref: line}})


def edited_line(**changes: Any) -> dict[str, Any]:
    line = copy.deepcopy(LINE)
    for name, schema in changes.items():
        if schema is None:
            del line["properties"][name]
            line["required"] = [r for r in line["required"] if r != name]
        else:
            line["properties"][name] = schema
    return line


BREAKING = {  # name: (old, new, path, kind)
    "property removed": (obj({"a": S, "b": S}), obj({"a": S}), "b", cc.PROPERTY_REMOVED),
    "optional becomes required": (obj({"a": S}), obj({"a": S}, ("a",)), "a", cc.NEWLY_REQUIRED),
    "new required property": (obj({"a": S}), obj({"a": S, "b": S}, ("b",)), "b", cc.NEWLY_REQUIRED),
    "number to integer": (obj({"a": N}), obj({"a": I}), "a", cc.TYPE_NARROWED),
    "string to integer": (obj({"a": S}), obj({"a": I}), "a", cc.TYPE_NARROWED),
    "smaller maxLength": (obj({"a": {**S, "maxLength": 64}}), obj({"a": {**S, "maxLength": 32}}), "a",
                          cc.BOUND_NARROWED),
    "new maxLength": (obj({"a": S}), obj({"a": {**S, "maxLength": 64}}), "a", cc.BOUND_NARROWED),
    "larger minLength": (obj({"a": S}), obj({"a": {**S, "minLength": 1}}), "a", cc.BOUND_NARROWED),
    "new pattern": (obj({"a": S}), obj({"a": {**S, "pattern": "^[A-Z]+$"}}), "a", cc.PATTERN_CHANGED),
    "changed pattern": (obj({"a": {**S, "pattern": "^a"}}), obj({"a": {**S, "pattern": "^b"}}), "a",
                        cc.PATTERN_CHANGED),
    "new format": (obj({"a": S}), obj({"a": {**S, "format": "date-time"}}), "a", cc.FORMAT_CHANGED),
    "new enum": (obj({"a": S}), obj({"a": {**S, "enum": ["x"]}}), "a", cc.ENUM_NARROWED),
    "enum loses a value": (obj({"a": {**S, "enum": ["x", "y"]}}), obj({"a": {**S, "enum": ["x"]}}), "a",
                           cc.ENUM_NARROWED),
    "const changes": (obj({"a": {**S, "const": "x"}}), obj({"a": {**S, "const": "y"}}), "a", cc.ENUM_NARROWED),
    "larger minimum": (obj({"a": {**I, "minimum": 0}}), obj({"a": {**I, "minimum": 1}}), "a", cc.BOUND_NARROWED),
    "smaller maximum": (obj({"a": {**N, "maximum": 10}}), obj({"a": {**N, "maximum": 9.5}}), "a", cc.BOUND_NARROWED),
    "minimum made exclusive": (obj({"a": {**N, "minimum": 0}}), obj({"a": {**N, "exclusiveMinimum": 0}}), "a",
                               cc.BOUND_NARROWED),
    "new multipleOf": (obj({"a": N}), obj({"a": {**N, "multipleOf": 0.01}}), "a", cc.BOUND_NARROWED),
    "anyOf loses a branch": (obj({"a": {"anyOf": [S, I, NULL]}}), obj({"a": {"anyOf": [S, NULL]}}), "a",
                             cc.BRANCH_REMOVED),
    "nullable becomes non-null": (obj({"a": {"anyOf": [S, NULL], "default": None}}), obj({"a": S}), "a",
                                  cc.NULL_REMOVED),
    "type list loses null": (obj({"a": {"type": ["string", "null"]}}), obj({"a": S}), "a", cc.NULL_REMOVED),
    "fewer items allowed": (obj({"a": {"type": "array", "items": S, "maxItems": 500}}),
                            obj({"a": {"type": "array", "items": S, "maxItems": 50}}), "a", cc.BOUND_NARROWED),
    "more items needed": (obj({"a": {"type": "array", "items": S}}),
                          obj({"a": {"type": "array", "items": S, "minItems": 1}}), "a", cc.BOUND_NARROWED),
    "items must be unique": (obj({"a": {"type": "array", "items": S}}),
                             obj({"a": {"type": "array", "items": S, "uniqueItems": True}}), "a", cc.BOUND_NARROWED),
    "array items narrowed": (obj({"a": {"type": "array", "items": N}}), obj({"a": {"type": "array", "items": I}}),
                             "a[]", cc.TYPE_NARROWED),
    "extra properties closed": ({**obj({"a": S}), "additionalProperties": True}, obj({"a": S}), "", cc.CLOSED),
    "extra property given a type": ({**obj({"a": S}), "additionalProperties": True},
                                    {**obj({"a": S, "b": I}), "additionalProperties": True}, "b", cc.TYPE_NARROWED),
    "default changes": (obj({"a": {**S, "default": "x"}}), obj({"a": {**S, "default": "y"}}), "a",
                        cc.DEFAULT_CHANGED),
    "unknown keyword added": (obj({"a": S}), obj({"a": {**S, "not": {"const": ""}}}), "a", cc.UNKNOWN_CHANGED),
    "$defs part loses a property": (with_line(LINE), with_line(edited_line(sku=None)), "lines[].sku",
                                    cc.PROPERTY_REMOVED),
    "$defs part requires more": (with_line(LINE), with_line({**LINE, "required": ["sku", "quantity", "gift"],
                                                             "properties": {**LINE["properties"],
                                                                            "gift": {"type": "boolean"}}}),
                                 "lines[].gift", cc.NEWLY_REQUIRED),
    "$defs part bound narrowed": (with_line(LINE), with_line(edited_line(quantity={**I, "exclusiveMinimum": 0,
                                                                                   "maximum": 10})),
                                  "lines[].quantity", cc.BOUND_NARROWED),
    "nullable $ref becomes non-null": (obj({"p": {"anyOf": [{"$ref": "#/$defs/L"}, NULL]}}, **{"$defs": {"L": LINE}}),
                                       obj({"p": {"$ref": "#/$defs/L"}}, **{"$defs": {"L": LINE}}), "p",
                                       cc.NULL_REMOVED),
}

ALLOWED = {  # name: (old, new)
    "new optional property": (obj({"a": S}), obj({"a": S, "b": {"anyOf": [S, NULL], "default": None}})),
    "required becomes optional": (obj({"a": S}, ("a",)), obj({"a": {**S, "default": ""}})),
    "integer to number": (obj({"a": I}), obj({"a": N})),
    "larger maxLength": (obj({"a": {**S, "maxLength": 32}}), obj({"a": {**S, "maxLength": 64}})),
    "maxLength dropped": (obj({"a": {**S, "maxLength": 32}}), obj({"a": S})),
    "pattern dropped": (obj({"a": {**S, "pattern": "^a"}}), obj({"a": S})),
    "format dropped": (obj({"a": {**S, "format": "date-time"}}), obj({"a": S})),
    "enum gains a value": (obj({"a": {**S, "enum": ["x"]}}), obj({"a": {**S, "enum": ["x", "y"]}})),
    "const becomes an enum": (obj({"a": {**S, "const": "x"}}), obj({"a": {**S, "enum": ["x", "y"]}})),
    "anyOf gains a branch": (obj({"a": {"anyOf": [S, NULL]}}), obj({"a": {"anyOf": [S, I, NULL]}})),
    "becomes nullable": (obj({"a": S}, ("a",)), obj({"a": {"anyOf": [S, NULL]}}, ("a",))),
    "looser bounds": (obj({"a": {**I, "minimum": 1, "maximum": 10}}), obj({"a": {**I, "minimum": 0}})),
    "integer gt 0 is ge 1": (obj({"a": {**I, "exclusiveMinimum": 0}}), obj({"a": {**I, "minimum": 1}})),
    "more items allowed": (obj({"a": {"type": "array", "items": S, "maxItems": 50}}),
                           obj({"a": {"type": "array", "items": S, "maxItems": 500}})),
    "extra properties opened": (obj({"a": S}), {**obj({"a": S}), "additionalProperties": True}),
    "annotations edited": (obj({"a": {**S, "title": "A", "description": "old"}}, title="X"),
                           obj({"a": {**S, "title": "B", "examples": ["e"]}}, description="new", **{"x-note": 1})),
    "$defs part renamed": (with_line(LINE, "OrderLine"), with_line(LINE, "Line")),
    "$defs part gains an optional field": (with_line(LINE), with_line(edited_line(gift={"type": "boolean",
                                                                                         "default": False}))),
}


@pytest.mark.parametrize("name", BREAKING)
def test_the_checker_reports_each_kind_of_breaking_change(name: str) -> None:
    old, new, path, kind = BREAKING[name]
    found = cc.breaking_changes(copy.deepcopy(old), copy.deepcopy(new))
    assert (path, kind) in [(c.path, c.kind) for c in found], [str(c) for c in found]


@pytest.mark.parametrize("name", ALLOWED)
def test_the_checker_allows_each_kind_of_widening(name: str) -> None:
    old, new = ALLOWED[name]
    assert cc.breaking_changes(copy.deepcopy(old), copy.deepcopy(new)) == []


def test_a_recursive_part_is_compared_once_and_still_checked() -> None:
    node = obj({"children": {"type": "array", "items": {"$ref": "#/$defs/Node"}}, "v": I})
    tree = {"$ref": "#/$defs/Node", "$defs": {"Node": node}}
    assert cc.breaking_changes(tree, copy.deepcopy(tree)) == []
    narrowed = copy.deepcopy(tree)
    narrowed["$defs"]["Node"]["properties"]["v"] = {**I, "maximum": 5}
    assert [str(c) for c in cc.breaking_changes(tree, narrowed)] == ["v: bound narrowed (maximum none -> 5)"]


# Random schemas in the shape pydantic writes (and some it does not), for the properties below.
_LEAVES = st.one_of(
    st.fixed_dictionaries({"type": st.just("string")}, optional={
        "maxLength": st.integers(0, 99), "minLength": st.integers(0, 9), "pattern": st.sampled_from(["^a", "^[0-9]+$"]),
        "format": st.sampled_from(["date-time", "text"]), "default": st.text(max_size=2)}),
    st.fixed_dictionaries({"type": st.sampled_from(["integer", "number"])}, optional={
        "minimum": st.integers(-5, 5), "maximum": st.integers(-5, 5), "exclusiveMinimum": st.integers(-5, 5),
        "exclusiveMaximum": st.floats(-5, 5), "multipleOf": st.sampled_from([1, 0.5, 2])}),
    st.lists(st.one_of(st.text(max_size=2), st.integers(), st.none()), min_size=1, max_size=4, unique=True)
    .map(lambda values: {"enum": values}),
    st.sampled_from([{"type": "boolean"}, NULL, {}, {"$ref": "#/$defs/Part"}, {"$ref": "#/$defs/Node"}]),
)


def _composites(children: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    props = st.dictionaries(st.sampled_from("abcdef"), children, max_size=4)
    return st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda branches: {"anyOf": branches}),
        st.builds(lambda items, most: {"type": "array", "items": items, **most}, children,
                  st.fixed_dictionaries({}, optional={"maxItems": st.integers(0, 9), "uniqueItems": st.booleans()})),
        props.flatmap(lambda p: st.builds(lambda req, closed: {**obj(p, tuple(req)), "additionalProperties": closed},
                                          st.lists(st.sampled_from(sorted(p)), unique=True) if p else st.just([]),
                                          st.sampled_from([False, True, {"type": "string"}]))),
    )


SCHEMAS = st.recursive(_LEAVES, _composites, max_leaves=10)
ROOTS = st.builds(lambda body, part: {**obj({"body": body, "other": S}, ("body",)), "$defs": {
    "Part": obj({"x": part}), "Node": obj({"kids": {"type": "array", "items": {"$ref": "#/$defs/Node"}}})}},
    SCHEMAS, SCHEMAS)


@settings(max_examples=300, deadline=None)
@given(ROOTS)
def test_a_schema_compared_with_itself_has_no_breaking_change(schema: dict[str, Any]) -> None:
    assert cc.breaking_changes(schema, copy.deepcopy(schema)) == []


@settings(max_examples=100, deadline=None)
@given(ROOTS)
def test_removing_or_requiring_a_property_is_always_breaking(schema: dict[str, Any]) -> None:
    removed = copy.deepcopy(schema)
    del removed["properties"]["other"]
    assert ("other", cc.PROPERTY_REMOVED) in [(c.path, c.kind) for c in cc.breaking_changes(schema, removed)]
    required = copy.deepcopy(schema)
    required["required"].append("other")
    assert [(c.path, c.kind) for c in cc.breaking_changes(schema, required)] == [("other", cc.NEWLY_REQUIRED)]


@pytest.mark.parametrize("key", sorted(COMMITTED), ids=lambda key: file_name(*key))
def test_every_committed_schema_is_compatible_with_itself(key: tuple[str, int]) -> None:
    assert cc.breaking_changes(COMMITTED[key], copy.deepcopy(COMMITTED[key])) == []


# ---------------------------------------------------------------------------------------------
# (d) real payloads against the committed schemas

_FORMATS = FormatChecker()


@_FORMATS.checks("date-time", raises=ValueError)
def _date_time(value: object) -> bool:  # jsonschema checks date-time only with an extra package
    return not isinstance(value, str) or datetime.fromisoformat(value).tzinfo is not None


@pytest.mark.parametrize("key", sorted(EVENT_MODELS), ids=lambda key: file_name(*key))
def test_an_example_payload_validates_against_its_committed_schema(key: tuple[str, int]) -> None:
    type_, version = key
    assert version == 1, f"tests/support/fuzz_records.sample gives v1 payloads: add a v{version} example here"
    schema = COMMITTED.get(key)
    assert schema is not None, f"no committed schema for {key}: run `{REGENERATE}`"
    Draft202012Validator.check_schema(schema)
    validator = Draft202012Validator(schema, format_checker=_FORMATS)
    example = sample(type_)
    model = EVENT_MODELS[key]
    written = json.loads(model.model_validate(example).model_dump_json())  # what our producers send
    for payload in (example, written):
        errors = [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(payload)]
        assert not errors, errors
    for name in schema.get("required", []):  # the schema and the model refuse the same omissions
        short = {k: v for k, v in written.items() if k != name}
        assert not validator.is_valid(short), f"schema accepts {type_} without {name}"
        with pytest.raises(ValidationError):
            model.model_validate(short)
