"""The alert rules as a Kubernetes `PrometheusRule` (Prometheus Operator) from the one rule file
compose loads, deploy/prometheus/alerts.yml, so the two cannot drift:

    python -m deploy.alert_rules k8s > deploy/k8s/overlays/peak/prometheus-rules.yaml

tests/unit/test_alert_rules.py checks the committed manifest is what this prints."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml

RULES = Path(__file__).resolve().parent / "prometheus" / "alerts.yml"


def rule_groups() -> list[dict[str, Any]]:
    return yaml.safe_load(RULES.read_text())["groups"]


def prometheus_rule() -> dict[str, Any]:
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "PrometheusRule",
        # The overlay adds it beside the base, whose kustomization sets the namespace for its own.
        "metadata": {"name": "peak-fulfilment-alerts", "namespace": "peak-fulfilment",
                     # The label a kube-prometheus-stack Prometheus selects rules by.
                     "labels": {"app.kubernetes.io/part-of": "peak-fulfilment", "release": "prometheus"}},
        "spec": {"groups": rule_groups()},
    }


def main(argv: list[str]) -> None:
    if argv != ["k8s"]:
        raise SystemExit("usage: python -m deploy.alert_rules k8s")
    print("# Generated from deploy/prometheus/alerts.yml by `python -m deploy.alert_rules k8s`; do not edit.")
    print("# What each alert means and what to do: docs/operations.md, \"Alerts\".")
    print("---")
    print(yaml.safe_dump(prometheus_rule(), sort_keys=False, width=120), end="")


if __name__ == "__main__":
    main(sys.argv[1:])
