"""The alert rules, checked offline (issue 33): deploy/prometheus/alerts.yml, loaded by the compose
Prometheus and, as the same groups, by the PrometheusRule of the k8s peak overlay.

`promtool check rules` and `promtool test rules deploy/prometheus/alerts_test.yml` (series over
time and the alerts they must raise) run when promtool is on PATH; the project does not install
it (`go install github.com/prometheus/prometheus/cmd/promtool@v0.316.0` builds it, about ten
minutes on two cores; both passed with it on 2026-12-07). Without it the check is ours, and says
what it covers:
- the rule file's shape as Prometheus' rulefmt reads it (groups, unique names, `alert`/`expr`,
  `for` a duration, labels and annotations strings, a known severity, templates that close);
- every expression parsed and type-checked by tests/support/promql.py (a PromQL subset that
  refuses what it does not know), and its result an instant vector;
- every metric an expression names exported by the services' real /metrics (each service's app
  built with its real registry, its database migrated, and its registry rendered) or by the Kafka
  exporter;
- each rule evaluated on hand-made samples by a few lines below, for the thresholds that matter
  (the 80% share, a single dead letter);
- a `runbook` anchor to a heading of docs/operations.md for every alert; the k8s manifest equal
  to `python -m deploy.alert_rules k8s`; compose mounting the file where prometheus.yml says.
What it does not: evaluate the range functions over real series the way the Prometheus engine
does (the thresholds are tested on the instant comparisons only)."""

from __future__ import annotations

import importlib
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from deploy import alert_rules
from shared.settings import KafkaSettings
from tests.support.promql import INSTANT, PromQLError, parse
from tests.support.services import TEST_SECRET

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "alerts.yml"
K8S_RULES = REPO / "deploy" / "k8s" / "overlays" / "peak" / "prometheus-rules.yaml"
OPERATIONS = REPO / "docs" / "operations.md"
KAFKA_EXPORTER = {"kafka_consumergroup_lag"}
REQUIRED = {"ConsumerLagGrowing", "OutboxBacklogGrowing", "DeadLettersAppearing", "Sla24hProjectedUnder80",
            "AftersalesCasesNear48h"}
DURATION = re.compile(r"(?:\d+(?:ms|[smhdwy]))+")


def rules() -> list[dict]:
    return [rule for group in yaml.safe_load(RULES.read_text())["groups"] for rule in group["rules"]]


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> set[str]:
    """Every series name the four services' /metrics show, from their real registries."""
    directory = tmp_path_factory.mktemp("metrics")
    names: set[str] = set()
    patch = pytest.MonkeyPatch()
    patch.setenv("AUTH_SECRET", TEST_SECRET)
    try:
        for service in ("orders", "inventory", "logistics", "aftersales"):
            app_module = importlib.import_module(f"services.{service}.app")
            settings_module = importlib.import_module(f"services.{service}.settings")
            settings_class = next(value for key, value in vars(settings_module).items()
                                  if key.lower() == f"{service}settings")
            app = app_module.build_app(settings_class(database_url=f"sqlite:///{directory}/{service}.sqlite"),
                                       KafkaSettings())
            runtime = app.state.runtime
            runtime.migrate()
            # A label set for every labelled family, as a running service has after its first event.
            runtime.metrics.dead_letters.labels(topic="t").inc(0)
            runtime.metrics.consumer_stalled.labels(topic="t", partition="0").set(0)
            text = runtime.metrics.render().decode()
            runtime.engine.dispose()
            names |= set(re.findall(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{|\s)", text, re.M))
    finally:
        patch.undo()
    return names


def test_the_rule_file_has_the_shape_prometheus_reads() -> None:
    document = yaml.safe_load(RULES.read_text())
    assert set(document) == {"groups"}
    group_names = [group["name"] for group in document["groups"]]
    assert len(group_names) == len(set(group_names))
    alerts = []
    for group in document["groups"]:
        assert set(group) <= {"name", "interval", "rules", "limit"}
        for rule in group["rules"]:
            assert set(rule) <= {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}, rule
            assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", rule["alert"])
            assert isinstance(rule["expr"], str) and rule["expr"].strip()
            if "for" in rule:
                assert DURATION.fullmatch(rule["for"]), rule["for"]
            assert rule["labels"]["severity"] in ("warning", "critical")
            for key, value in {**rule["labels"], **rule["annotations"]}.items():
                assert re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", key) and isinstance(value, str)
            for text in rule["annotations"].values():
                assert text.count("{{") == text.count("}}"), text
                for template in re.findall(r"\{\{(.*?)\}\}", text):
                    assert re.fullmatch(r"\s*\$(value|labels\.[a-zA-Z_]\w*)(\s*\|\s*humanize\w*)?\s*", template), template
            assert {"summary", "description", "runbook"} <= set(rule["annotations"])
            alerts.append(rule["alert"])
    assert len(alerts) == len(set(alerts))
    assert REQUIRED <= set(alerts)


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_every_expression_parses_and_names_only_exported_metrics(rule: dict, exported: set[str]) -> None:
    parsed = parse(rule["expr"])
    assert parsed.type == INSTANT, f"{rule['alert']}: an alert's expression must be an instant vector"
    unknown = parsed.metrics - exported - KAFKA_EXPORTER
    assert not unknown, f"{rule['alert']} names metrics nobody exports: {sorted(unknown)}"


@pytest.mark.parametrize("rule", rules(), ids=lambda rule: rule["alert"])
def test_every_alert_says_where_its_runbook_is(rule: dict) -> None:
    anchor = rule["annotations"]["runbook"]
    path, _, fragment = anchor.partition("#")
    assert path == "docs/operations.md"
    headings = {re.sub(r"[^a-z0-9 -]", "", h.strip().lower()).replace(" ", "-")
                for h in re.findall(r"^#+ (.+)$", OPERATIONS.read_text(), re.M)}
    assert fragment in headings, f"{rule['alert']}: no heading for #{fragment} in docs/operations.md"


def test_the_checker_refuses_broken_expressions() -> None:
    for bad in ("rate(peak_dead_letters_total)",                     # rate of an instant vector
                "sum(rate(peak_dead_letters_total[5m])",             # unclosed
                "peak_outbox_backlog > 100 and 5",                   # `and` with a scalar
                "max(peak_outbox_backlog[5m])",                      # aggregating a range
                "delta(peak_outbox_backlog[10x])",                   # not a duration
                "1 > 2",                                             # scalar comparison without bool
                "increse(peak_dead_letters_total[5m])",              # unknown function
                "sum by (job (peak_outbox_backlog)",
                'peak_outbox_backlog{job=~"("}',                     # bad regular expression
                "peak_outbox_backlog >"):
        with pytest.raises(PromQLError):
            parse(bad)
    assert parse("sum by (consumergroup) (delta(kafka_consumergroup_lag[10m:1m])) > 0").type == INSTANT
    assert parse("histogram_quantile(0.95, sum by (le, job) (rate(peak_handler_seconds_bucket[1m])))").metrics == {
        "peak_handler_seconds_bucket"}
    assert parse("-peak_outbox_backlog ^ 2 ^ 3 + on (job) group_left peak_broker_connected").type == INSTANT


def _instant(expr: str, samples: dict[str, float]) -> bool:
    """Whether a rule fires on one instant for the rules made of `<selector or max(...)> <op> <number>`
    (the threshold rules): the sample stands for the selector's value."""
    match = re.fullmatch(r"\s*(?:max(?: by \([^)]*\))?\()?\s*([a-z0-9_]+)\)?\s*(<|>|==)\s*([\d.]+)\s*", expr)
    assert match, expr
    value, operator, threshold = samples[match[1]], match[2], float(match[3])
    return {"<": value < threshold, ">": value > threshold, "==": value == threshold}[operator]


def test_the_thresholds_fire_where_the_rules_say() -> None:
    by_name = {rule["alert"]: rule["expr"] for rule in rules()}
    sla = by_name["Sla24hProjectedUnder80"]
    assert _instant(sla, {"peak_sla_projected_within_24h_ratio": 0.7999})
    assert not _instant(sla, {"peak_sla_projected_within_24h_ratio": 0.80})  # R14: 80% is met
    cases = by_name["AftersalesCasesNear48h"]
    assert _instant(cases, {"peak_aftersales_cases_at_risk": 1}) and not _instant(cases, {"peak_aftersales_cases_at_risk": 0})
    broker = by_name["BrokerUnreachable"]
    assert _instant(broker, {"peak_broker_connected": 0}) and not _instant(broker, {"peak_broker_connected": 1})
    # One dead letter is enough: increase(...) > 0.
    assert re.search(r"increase\(peak_dead_letters_total\[\d+m\]\)\)\s*>\s*0$", by_name["DeadLettersAppearing"])


def test_the_k8s_prometheus_rule_is_the_compose_rule_file() -> None:
    manifest = [doc for doc in yaml.safe_load_all(K8S_RULES.read_text()) if doc]
    assert manifest == [alert_rules.prometheus_rule()]
    kustomization = yaml.safe_load((K8S_RULES.parent / "kustomization.yaml").read_text())
    assert K8S_RULES.name in kustomization["resources"]


def test_compose_prometheus_loads_the_rule_file() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    mounts = dict(v.rsplit(":", 2)[:2] for v in compose["services"]["prometheus"]["volumes"] if v.startswith("./"))
    config = yaml.safe_load((REPO / "deploy" / "prometheus" / "prometheus.yml").read_text())
    [rule_file] = config["rule_files"]
    assert mounts.get("./deploy/prometheus/alerts.yml") == rule_file


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_checks_the_rules() -> None:
    done = subprocess.run(["promtool", "check", "rules", str(RULES)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.skipif(shutil.which("promtool") is None, reason="promtool is not installed")
def test_promtool_unit_tests_of_the_rules_pass() -> None:
    done = subprocess.run(["promtool", "test", "rules", str(RULES.parent / "alerts_test.yml")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
