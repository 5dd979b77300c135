"""Is a new JSON Schema of an event payload a breaking change from the old one? Pure functions.

The rule (contracts/README.md): a payload schema describes what a producer may send at one
`dataversion`. A change is *breaking* when

- a payload the old schema accepted could fail the new one: events already in a topic's log,
  and events an older producer still sends during a rolling deploy, must still be read by the
  new consumers; or
- a field a consumer may read disappears (a property removed, even where the new schema would
  still let it through); or
- a field's default changes: a payload that leaves the field out would silently mean something
  else to the new consumers (our addition beyond validity; it is rare and easy to get wrong).

So every *narrowing* is breaking: a property removed or newly required, a type narrowed
(number -> integer, string -> integer), a string given a smaller `maxLength`, a larger
`minLength`, a new or changed `pattern` or `format`, an `enum`/`const` where there was none or
one losing values, a larger `minimum` / smaller `maximum` (exclusive bounds included), a new
`multipleOf`, a smaller `maxItems` or larger `minItems`, `uniqueItems` required, an
`anyOf` losing a branch (nullable becoming non-null is the common case), `additionalProperties`
closed. Changes are followed through `$ref`s into `$defs` on both sides (OrderLine, SkuQuantity,
ReturnLine, Promotion), recursive definitions included.

Every *widening* is allowed: a new optional property, a required property becoming optional,
a looser bound, an enum gaining values, a new `anyOf` branch (e.g. becoming nullable),
integer -> number, a pattern or format dropped. Widening is safe for the new consumers and for
the log; it is *not* safe for a consumer still running the old model, which forbids unknown
fields (`extra="forbid"`) and refuses values outside its old bounds: deploy consumers before
the producers that start sending the wider payloads. (That order is a deploy rule; the schema
check cannot see it.)

The check is conservative where it cannot decide: two different regular expressions are
treated as a narrowing (containment of regexes is not worth deciding here), and so is any
change to a validation keyword it does not know (`not`, `if`, `patternProperties`, ...).
Annotations (`title`, `description`, `examples`, `$comment`, `x-...`) never count. `oneOf` is
read like `anyOf`.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

Schema = dict[str, Any]

# Kinds of breaking change, as reported.
PROPERTY_REMOVED = "property removed"
NEWLY_REQUIRED = "property newly required"
TYPE_NARROWED = "type narrowed"
BRANCH_REMOVED = "anyOf lost a branch"
NULL_REMOVED = "no longer nullable"
ENUM_NARROWED = "enum narrowed"
BOUND_NARROWED = "bound narrowed"
PATTERN_CHANGED = "pattern added or changed"
FORMAT_CHANGED = "format added or changed"
CLOSED = "additional properties closed"
DEFAULT_CHANGED = "default changed"
UNKNOWN_CHANGED = "unrecognised keyword changed"

ANNOTATIONS = frozenset({"title", "description", "examples", "default", "deprecated", "readOnly", "writeOnly",
                         "$comment", "$schema", "$id", "$defs", "definitions"})
_HANDLED = frozenset({"type", "enum", "const", "anyOf", "oneOf", "allOf", "$ref", "properties", "required",
                      "additionalProperties", "items", "minItems", "maxItems", "uniqueItems", "minLength",
                      "maxLength", "pattern", "format", "minimum", "maximum", "exclusiveMinimum",
                      "exclusiveMaximum", "multipleOf", "minProperties", "maxProperties"})
# Bounds where a larger value narrows (lower bounds) or a smaller one does (upper bounds).
_LOWER_COUNTS = ("minLength", "minItems", "minProperties")
_UPPER_COUNTS = ("maxLength", "maxItems", "maxProperties")
_MISSING = object()


@dataclass(frozen=True)
class Change:
    """One breaking change: where (a field path such as `lines[].quantity`), what kind, details."""

    path: str
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"{self.path or '(payload)'}: {self.kind} ({self.detail})"


def breaking_changes(old: Schema, new: Schema) -> list[Change]:
    """Every breaking change from `old` to `new` (root schemas, each with its own `$defs`), in a
    stable order; empty when `new` accepts every payload `old` accepted, keeps every property
    and every default. Both schemas are read, never modified."""
    return _Comparison(old, new).run()


class _Comparison:
    def __init__(self, old_root: Schema, new_root: Schema) -> None:
        self.roots = old_root, new_root
        self.changes: list[Change] = []
        # Pairs (old side, new side) involving a $ref that are being compared further up: a
        # recursive definition meeting itself again is taken as compatible there (whatever
        # differs is reported at the outer level), so the walk ends.
        self.in_progress: set[tuple[str, str]] = set()

    def run(self) -> list[Change]:
        self.compare(self.roots[0], self.roots[1], "")
        return list(dict.fromkeys(self.changes))  # the same change reached twice reports once

    def report(self, path: str, kind: str, detail: str) -> None:
        self.changes.append(Change(path, kind, detail))

    # -- resolving -----------------------------------------------------------------------------

    def resolve(self, schema: Any, side: int) -> tuple[Schema, str | None]:
        """The schema with local `$ref`s (and one-element `allOf`s) merged in, and the last ref."""
        if schema is True:
            return {}, None
        if schema is False:
            return {"not": {}}, None
        ref = None
        for _ in range(64):  # a $ref to a $ref to itself would loop for ever
            if "$ref" in schema:
                ref = schema["$ref"]
                target = self.lookup(ref, side)
            elif len(schema.get("allOf", ())) == 1:
                target = schema["allOf"][0]
            else:
                return schema, ref
            siblings = {k: v for k, v in schema.items() if k not in ("$ref", "allOf")}
            # Keywords beside a $ref win. Strictly both apply (an allOf), but pydantic only puts
            # annotations there (a default, a description), and the default must be the field's.
            schema = {**target, **siblings}
        raise ValueError(f"$ref chain does not end: {ref!r}")

    def lookup(self, ref: str, side: int) -> Schema:
        if not ref.startswith("#/"):
            raise ValueError(f"only local $refs are supported, got {ref!r}")
        node: Any = self.roots[side]
        try:
            for part in ref[2:].split("/"):
                node = node[part.replace("~1", "/").replace("~0", "~")]
        except (KeyError, IndexError, TypeError) as exc:
            raise ValueError(f"$ref {ref!r} points nowhere in the {('old', 'new')[side]} schema") from exc
        return node

    def type_of(self, schema: Schema, side: int) -> str | None:
        return _type_of(self.resolve(schema, side)[0])

    # -- comparing -----------------------------------------------------------------------------

    def compare(self, old: Any, new: Any, path: str) -> None:
        old_given, new_given = old, new
        old, old_ref = self.resolve(old, 0)
        new, new_ref = self.resolve(new, 1)
        pair = None
        if old_ref is not None or new_ref is not None:
            # Only a $ref can make the walk go round; the side without one is named by its text
            # (a recursive part against "anything" meets the same pair again and stops).
            pair = (old_ref or _canonical(old_given), new_ref or _canonical(new_given))
            if pair in self.in_progress:
                return
            self.in_progress.add(pair)
        try:
            self.compare_branches(old, new, path)
        finally:
            if pair is not None:
                self.in_progress.discard(pair)

    def compare_branches(self, old: Schema, new: Schema, path: str) -> None:
        """Each alternative the old schema allowed must be allowed by some new alternative."""
        new_branches = self.branches(new)
        for old_branch in self.branches(old):
            old_type = self.type_of(old_branch, 0)
            candidates = [b for b in new_branches if _types_meet(old_type, self.type_of(b, 1))]
            if not candidates:
                if old_type == "null":
                    self.report(path, NULL_REMOVED, "null is no longer accepted")
                elif len(new_branches) == 1 and self.type_of(new_branches[0], 1) is not None:
                    self.report(path, TYPE_NARROWED, f"{old_type} -> {self.type_of(new_branches[0], 1)}")
                else:
                    self.report(path, BRANCH_REMOVED, f"no alternative accepts {old_type or 'the old values'}")
                continue
            # The old values may land in any alternative of the same type: a clean fit settles
            # it, otherwise the closest fit's narrowings are reported.
            best: list[Change] | None = None
            for candidate in candidates:
                trial = _Comparison(*self.roots)
                trial.in_progress = set(self.in_progress)
                trial.compare_one(old_branch, candidate, path)
                if best is None or len(trial.changes) < len(best):
                    best = trial.changes
                if not best:
                    break
            self.changes.extend(best or [])

    def branches(self, schema: Schema) -> list[Schema]:
        """`anyOf`/`oneOf` alternatives, nested ones flattened, and `type: [...]` split up. A
        `$ref` alternative stays a ref, so a recursive definition still stops in `compare`."""
        alternatives = schema.get("anyOf") or schema.get("oneOf")
        if alternatives:
            rest = {k: v for k, v in schema.items() if k not in ("anyOf", "oneOf") and k not in ANNOTATIONS}
            out: list[Schema] = []
            for alternative in alternatives:
                branch = {**alternative, **rest} if isinstance(alternative, dict) else alternative
                out.extend([branch] if not isinstance(branch, dict) or "$ref" in branch else self.branches(branch))
            return out
        if isinstance(schema.get("type"), list):
            return [{**schema, "type": t} for t in schema["type"]]
        return [schema]

    def compare_one(self, old: Schema, new: Schema, path: str) -> None:
        """One alternative against one: each single-typed or untyped."""
        if not isinstance(old, dict) or not isinstance(new, dict) or "$ref" in old or "$ref" in new:
            self.compare(old, new, path)
            return
        old_type, new_type = _type_of(old), _type_of(new)
        if new_type is not None and old_type != new_type and not (old_type == "integer" and new_type == "number"):
            self.report(path, TYPE_NARROWED, f"{old_type or 'any'} -> {new_type}")
        self.compare_enum(old, new, path)
        self.compare_bounds(old, new, path, integer=old_type == "integer")
        for key, kind in (("pattern", PATTERN_CHANGED), ("format", FORMAT_CHANGED)):
            if key in new and new[key] != old.get(key):
                self.report(path, kind, f"{old.get(key)!r} -> {new[key]!r}")
        if new.get("uniqueItems") is True and old.get("uniqueItems") is not True:
            self.report(path, BOUND_NARROWED, "items must now be unique")
        if "items" in new:
            self.compare(old.get("items", True), new["items"], path + "[]")
        if "object" in (old_type, new_type) or "properties" in old or "properties" in new:
            self.compare_object(old, new, path)
        for key in sorted(set(new) - _HANDLED - ANNOTATIONS):
            if not key.startswith("x-") and old.get(key, _MISSING) != new[key]:
                self.report(path, UNKNOWN_CHANGED, f"{key}: cannot tell whether this narrows, treated as breaking")

    def compare_enum(self, old: Schema, new: Schema, path: str) -> None:
        new_values = _enum(new)
        if new_values is None:
            return
        old_values = _enum(old)
        if old_values is None:
            self.report(path, ENUM_NARROWED, f"now limited to {new_values!r}")
            return
        lost = [v for v in old_values if v not in new_values]
        if lost:
            self.report(path, ENUM_NARROWED, f"values no longer allowed: {lost!r}")

    def compare_bounds(self, old: Schema, new: Schema, path: str, *, integer: bool) -> None:
        for key in _LOWER_COUNTS:
            if new.get(key, 0) > old.get(key, 0):
                self.report(path, BOUND_NARROWED, f"{key} {old.get(key, 0)} -> {new[key]}")
        for key in _UPPER_COUNTS:
            if key in new and (key not in old or new[key] < old[key]):
                self.report(path, BOUND_NARROWED, f"{key} {old.get(key, 'none')} -> {new[key]}")
        for side, label in ((-1, "minimum"), (1, "maximum")):
            before, after = _bound(old, side, integer), _bound(new, side, integer)
            if after is not None and (before is None or _tighter(after, before, side)):
                self.report(path, BOUND_NARROWED, f"{label} {_show(before)} -> {_show(after)}")
        if "multipleOf" in new:
            step = Fraction(str(new["multipleOf"]))
            if "multipleOf" not in old or Fraction(str(old["multipleOf"])) % step != 0:
                self.report(path, BOUND_NARROWED, f"multipleOf {old.get('multipleOf', 'none')} -> {new['multipleOf']}")

    def compare_object(self, old: Schema, new: Schema, path: str) -> None:
        old_props, new_props = old.get("properties", {}), new.get("properties", {})
        old_extra, new_extra = old.get("additionalProperties", True), new.get("additionalProperties", True)
        prefix = path + "." if path else ""
        for name in old_props:
            if name not in new_props:
                self.report(prefix + name, PROPERTY_REMOVED, "a consumer reading it would find it gone")
                continue
            self.compare_default(old_props[name], new_props[name], prefix + name)
            self.compare(old_props[name], new_props[name], prefix + name)
        for name in new_props:
            if name not in old_props and old_extra is not False:
                # The old schema let this name through as an extra property; the new one checks it.
                self.compare(old_extra, new_props[name], prefix + name)
        old_required = set(old.get("required", ()))
        for name in new.get("required", ()):
            if name not in old_required:
                self.report(prefix + name, NEWLY_REQUIRED, "a payload without it is now refused")
        if new_extra is False and old_extra is not False:
            self.report(path, CLOSED, "properties not listed are now refused")
        elif isinstance(new_extra, dict) and old_extra is not False:
            self.compare(old_extra, new_extra, prefix + "*")

    def compare_default(self, old: Any, new: Any, path: str) -> None:
        old_default = old.get("default", _MISSING) if isinstance(old, dict) else _MISSING
        new_default = new.get("default", _MISSING) if isinstance(new, dict) else _MISSING
        # Only a default on both sides that moved: a field that gains one was required before
        # (always sent); one that loses it is reported as newly required.
        if old_default is not _MISSING and new_default is not _MISSING and old_default != new_default:
            self.report(path, DEFAULT_CHANGED, f"{old_default!r} -> {new_default!r}: a payload without the "
                                               "field now means something else")


def _canonical(schema: Any) -> str:
    return json.dumps(schema, sort_keys=True, default=repr)


def _type_of(schema: Schema) -> str | None:
    if "type" in schema:
        return schema["type"]
    if "const" in schema or "enum" in schema:  # an untyped enum: its values' JSON type, if one
        kinds = {_json_type(v) for v in _enum(schema) or []}
        return kinds.pop() if len(kinds) == 1 else None
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    return {str: "string", list: "array", dict: "object"}.get(type(value), "unknown")


def _types_meet(old: str | None, new: str | None) -> bool:
    """Could an old value of type `old` be accepted by a branch of type `new`? Number -> integer
    meets (some old numbers still fit; the narrowing is reported), so do untyped branches."""
    return old is None or new is None or old == new or {old, new} == {"integer", "number"}


def _enum(schema: Schema) -> list[Any] | None:
    if "const" in schema:
        return [schema["const"]]
    return list(schema["enum"]) if "enum" in schema else None


def _bound(schema: Schema, side: int, integer: bool) -> tuple[Fraction, bool] | None:
    """(value, exclusive) of the tightest lower (side -1) or upper (side 1) bound, or None. When
    the values compared are integers every bound becomes the whole number it lets through
    first, so `exclusiveMinimum: 0` and `minimum: 1` compare equal."""
    inclusive_key, exclusive_key = ("minimum", "exclusiveMinimum") if side < 0 else ("maximum", "exclusiveMaximum")
    found: list[tuple[Fraction, bool]] = []
    if inclusive_key in schema:
        found.append((Fraction(str(schema[inclusive_key])), False))
    if exclusive_key in schema and not isinstance(schema[exclusive_key], bool):  # draft-4 booleans: not ours
        found.append((Fraction(str(schema[exclusive_key])), True))
    if integer:
        found = [(Fraction(_whole(value, exclusive, side)), False) for value, exclusive in found]
    if not found:
        return None
    pick = max if side < 0 else min
    return pick(found, key=lambda bound: _key(bound, side))


def _whole(value: Fraction, exclusive: bool, side: int) -> int:
    if side < 0:
        return math.floor(value) + 1 if exclusive else math.ceil(value)
    return math.ceil(value) - 1 if exclusive else math.floor(value)


def _key(bound: tuple[Fraction, bool], side: int) -> tuple[Fraction, int]:
    value, exclusive = bound
    return value, (-side if exclusive else 0)  # exclusive lower sits just above, upper just below


def _tighter(after: tuple[Fraction, bool], before: tuple[Fraction, bool], side: int) -> bool:
    return _key(after, side) > _key(before, side) if side < 0 else _key(after, side) < _key(before, side)


def _show(bound: tuple[Fraction, bool] | None) -> str:
    if bound is None:
        return "none"
    value, exclusive = bound
    text = str(value.numerator) if value.denominator == 1 else str(float(value))
    return f"{text} (exclusive)" if exclusive else text
