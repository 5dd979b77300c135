"""LOGISTICS_PLAN_PATH at start-up (issue 32): the sample plan loads; a bad file stops the service
with the field named."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from services.logistics.app import load_plan
from services.logistics.plan import PlanInvalid, planned_hours
from services.logistics.settings import LogisticsSettings

SAMPLE = Path(__file__).parents[2] / "deploy" / "samples" / "plan.json"


def settings_for(path: Path | str) -> LogisticsSettings:
    return LogisticsSettings(database_url="sqlite://", plan_path=str(path))


def test_the_sample_plan_is_a_72_hour_event() -> None:
    plan = load_plan(settings_for(SAMPLE))
    assert plan is not None and len(planned_hours(plan)) == 72
    assert [p.name for p in plan.phases or []] == ["warm-up", "burst", "tail"]


def test_no_path_no_plan() -> None:
    assert load_plan(LogisticsSettings(database_url="sqlite://")) is None


def test_a_bad_file_names_the_file_and_the_field(tmp_path: Path) -> None:
    data = json.loads(SAMPLE.read_text(encoding="utf-8"))
    data["phases"][1]["orders_per_hour"]["standard"] = 1e30
    bad = tmp_path / "plan.json"
    bad.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(PlanInvalid, match=r"LOGISTICS_PLAN_PATH .*plan.json: phases.1.orders_per_hour.standard"):
        load_plan(settings_for(bad))
    with pytest.raises(PlanInvalid, match="cannot be read"):
        load_plan(settings_for(tmp_path / "missing.json"))
    bad.write_bytes(b"\xff{")
    with pytest.raises(PlanInvalid, match="not a JSON plan"):
        load_plan(settings_for(bad))
