"""The JSON Schema of every event payload, committed under contracts/events/ (one file per type
and dataversion: `<type>.v<version>.schema.json`), so a change to a contract is a change to a
file a reviewer sees, and tests/unit/test_event_contracts.py can tell a breaking one.

    python -m tools.contract_schemas --write   # regenerate from the payload models
    python -m tools.contract_schemas --check   # exit 1, listing every file that differs

Which schema: pydantic's *validation* schema (`model_json_schema(mode="validation")`). It is
what every consumer enforces, since each one decodes `data` with the registered model
(`decode_payload`), so it is exactly what a consumer can rely on having been checked, and what
any producer, including the platform's own services outside this repo, must send. The
serialization schema describes what *our* producers happen to write: it would be the wrong
contract for `order.placed` (written outside), and pydantic may mark defaulted fields as always
present there (true of our output, not of every valid event in the log). Today the two are the
same for every payload; the contract tests also check that what our producers write (the
model's JSON) validates against the committed schema, so the two cannot drift apart unseen.

The files are deterministic (sorted keys, 2-space indent, UTF-8, trailing newline), so `--check`
compares text. `--write` refuses to overwrite a schema with a breaking change (the rules are in
tools/contract_compat.py): a breaking change needs a new dataversion, not a regenerated file.
Files of versions no longer registered are left alone: they describe events still in the logs.
"""

from __future__ import annotations

import argparse
import difflib
import json
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shared.event_registry import EVENT_MODELS
from shared.settings import REPO_ROOT
from tools.contract_compat import breaking_changes

SCHEMA_DIR = REPO_ROOT / "contracts" / "events"
DIALECT = "https://json-schema.org/draft/2020-12/schema"  # the dialect pydantic writes
REGENERATE = "python -m tools.contract_schemas --write"
FILE_NAME = re.compile(r"^(?P<type>[a-z0-9_.-]+)\.v(?P<version>[1-9][0-9]*)\.schema\.json$")

Key = tuple[str, int]
"""(event type, dataversion), as in EVENT_MODELS."""


def file_name(type_: str, version: int) -> str:
    return f"{type_}.v{version}.schema.json"


def schema_of(type_: str, version: int, model: Any) -> dict[str, Any]:
    """The committed document: the model's validation schema, plus what names it when the file
    travels alone (`x-` keywords are annotations: validators ignore them)."""
    schema = model.model_json_schema(mode="validation")
    return {"$schema": DIALECT, "x-event-type": type_, "x-dataversion": version, **schema}


def generate(models: Mapping[Key, Any] | None = None) -> dict[Key, dict[str, Any]]:
    """The document of every registered (type, version)."""
    models = EVENT_MODELS if models is None else models
    return {key: schema_of(*key, model) for key, model in sorted(models.items())}


def render(document: Mapping[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def load_committed(directory: Path = SCHEMA_DIR) -> dict[Key, dict[str, Any]]:
    """Every schema file in `directory`, by (type, version); other files are ignored."""
    found: dict[Key, dict[str, Any]] = {}
    if not directory.is_dir():
        return found
    for path in sorted(directory.iterdir()):
        match = FILE_NAME.match(path.name)
        if match:
            found[(match["type"], int(match["version"]))] = json.loads(path.read_text(encoding="utf-8"))
    return found


def differences(directory: Path = SCHEMA_DIR, current: Mapping[Key, dict[str, Any]] | None = None) -> list[str]:
    """What `--check` lists: a missing file, or a unified diff of one that differs."""
    current = generate() if current is None else current
    out: list[str] = []
    for (type_, version), document in current.items():
        path = directory / file_name(type_, version)
        wanted = render(document)
        if not path.exists():
            out.append(f"missing: {path.name}")
            continue
        have = path.read_text(encoding="utf-8")
        if have != wanted:
            diff = difflib.unified_diff(have.splitlines(), wanted.splitlines(), f"committed/{path.name}",
                                        f"generated/{path.name}", lineterm="", n=1)
            out.append(f"differs: {path.name}\n" + "\n".join(diff))
    return out


def compatibility_problems(type_: str, committed: Mapping[Key, dict[str, Any]],
                           current: Mapping[Key, dict[str, Any]]) -> list[str]:
    """Why the current registry may not ship, for one event type, measured against the
    committed schemas of that type ([] when it may).

    - A committed version still registered must take no breaking change: events of that
      version are in the logs, and producers still send them. That holds even when a later
      version exists (the old model is still what decodes the old events).
    - A committed version no longer registered is fine if a later version is registered (the
      breaking change went where it belongs); its file stays. A type with no version left is
      retired: delete its files deliberately.
    - Every version below a registered one keeps its file.
    """
    registered = sorted(v for t, v in current if t == type_)
    kept = sorted(v for t, v in committed if t == type_)
    problems: list[str] = []
    for version in kept:
        if (type_, version) in current:
            changes = breaking_changes(committed[(type_, version)], current[(type_, version)])
            if changes:
                problems.append(
                    f"{type_} v{version} changed incompatibly ({file_name(type_, version)}):\n"
                    + "".join(f"  - {change}\n" for change in changes)
                    + f"  Keep v{version}'s model as committed and register the new shape as "
                      f"({type_!r}, {max(registered + kept) + 1}) instead; then run `{REGENERATE}`.")
        elif not registered:
            problems.append(f"{type_} v{version} has a committed schema but no version of {type_} is registered: "
                            f"if the type is retired on purpose, delete contracts/events/{type_}.v*.schema.json")
        elif registered[-1] < version:
            problems.append(f"{type_} v{version} has a committed schema but the registry's latest is "
                            f"v{registered[-1]}: a dataversion never goes back")
    for version in registered:
        for earlier in range(1, version):
            if (type_, earlier) not in committed:
                problems.append(f"{type_} v{version} is registered but {file_name(type_, earlier)} is missing: "
                                f"keep every earlier version's schema, events in the logs still follow it")
    return problems


def write(directory: Path = SCHEMA_DIR, current: Mapping[Key, dict[str, Any]] | None = None) -> list[str]:
    """Write every registered schema; refuse (and return why) any that would break its file."""
    current = generate() if current is None else current
    committed = load_committed(directory)
    directory.mkdir(parents=True, exist_ok=True)
    refused: list[str] = []
    for key, document in current.items():
        if key in committed:
            changes = breaking_changes(committed[key], document)
            if changes:
                refused.append(f"not written: {file_name(*key)} would take breaking changes:\n"
                               + "".join(f"  - {change}\n" for change in changes)
                               + f"  Register the new shape under dataversion {key[1] + 1} instead.")
                continue
        path = directory / file_name(*key)
        text = render(document)
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
    return refused


def main(argv: list[str] | None = None, directory: Path = SCHEMA_DIR) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.contract_schemas", description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="regenerate contracts/events/ from the payload models")
    mode.add_argument("--check", action="store_true", help="exit 1 if a committed schema is missing or differs")
    args = parser.parse_args(argv)
    if args.write:
        refused = write(directory)
        for reason in refused:
            print(reason, file=sys.stderr)
        return 1 if refused else 0
    found = differences(directory)
    for difference in found:
        print(difference)
    if found:
        print(f"\n{len(found)} schema file(s) out of date: run `{REGENERATE}`", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
