"""The Kubernetes manifests under deploy/k8s: kustomize base and the peak overlay.

The kustomizations are rendered here in Python (resources, namespace, images and JSON 6902
patches, the only features they use), cross-checked against `kubectl kustomize` when kubectl is
installed, and every built-in object is validated against the Kubernetes JSON schemas shipped by
the kubernetes-validate package (offline). Strimzi's custom resources are checked against the
subset of their CRD schemas written out below.
"""

from __future__ import annotations

import copy
import re
import shutil
import subprocess
from pathlib import Path

import jsonschema
import kubernetes_validate
import pytest
import yaml

from shared.readiness import DEGRADED_WORK, BrokerSignal, readiness_answer
from shared.topics import ALL_TOPICS, all_topic_names

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
BASE = K8S / "base"
PEAK = K8S / "overlays" / "peak"
KUBERNETES_VERSION = "1.32"
NAMESPACE = "peak-fulfilment"

# Deployment -> (env prefix, HTTP port, module run by `python -m`)
APPS = {
    "orders": ("ORDERS", 8101, "services.orders"),
    "inventory": ("INVENTORY", 8102, "services.inventory"),
    "logistics": ("LOGISTICS", 8103, "services.logistics"),
    "aftersales": ("AFTERSALES", 8104, "services.aftersales"),
    "console": ("CONSOLE", 8100, "console"),
}
SERVICES = [name for name in APPS if name != "console"]
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition",
                  "PersistentVolume", "StorageClass", "PriorityClass"}
STRIMZI = "kafka.strimzi.io/v1beta2"
KUSTOMIZATION_KEYS = {"apiVersion", "kind", "namespace", "resources", "images", "patches"}


# -- rendering ---------------------------------------------------------------------------------

def render(directory: Path) -> list[dict]:
    """What `kubectl kustomize directory` prints, for the features these kustomizations use."""
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    unsupported = set(kustomization) - KUSTOMIZATION_KEYS
    assert not unsupported, f"{directory}: the Python renderer does not know {sorted(unsupported)}"
    objects: list[dict] = []
    for entry in kustomization.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            objects += render(path)
        else:
            objects += [doc for doc in yaml.safe_load_all(path.read_text()) if doc]
    namespace = kustomization.get("namespace")
    if namespace:
        for obj in objects:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
    for image in kustomization.get("images", []):
        for obj in objects:
            for container in _containers(obj):
                name, _, _tag = container["image"].partition(":")
                if name == image["name"]:
                    container["image"] = f"{image.get('newName', name)}:{image.get('newTag', _tag or 'latest')}"
    for patch in kustomization.get("patches", []):
        ops = yaml.safe_load(patch["patch"] if "patch" in patch else (directory / patch["path"]).read_text())
        assert isinstance(ops, list), f"{directory}: only JSON 6902 patches are supported"
        targets = [obj for obj in objects if _matches(obj, patch["target"])]
        assert targets, f"{directory}: patch target {patch['target']} matches nothing"
        for obj in targets:
            _apply_json_patch(obj, ops)
    return objects


def _matches(obj: dict, target: dict) -> bool:
    group, _, version = obj["apiVersion"].rpartition("/")
    return (target.get("kind", obj["kind"]) == obj["kind"]
            and target.get("name", obj["metadata"]["name"]) == obj["metadata"]["name"]
            and target.get("group", group) == group
            and target.get("version", version) == version)


def _apply_json_patch(doc: dict, ops: list[dict]) -> None:
    for op in ops:
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        node = doc
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        key = int(last) if isinstance(node, list) and last != "-" else last
        if op["op"] == "replace":
            assert (key < len(node)) if isinstance(node, list) else (key in node), f"no {op['path']} to replace"
            node[key] = copy.deepcopy(op["value"])
        elif op["op"] == "add":
            if isinstance(node, list):
                node.insert(len(node) if key == "-" else key, copy.deepcopy(op["value"]))
            else:
                node[key] = copy.deepcopy(op["value"])
        elif op["op"] == "remove":
            del node[key]
        else:
            raise AssertionError(f"unsupported JSON patch op {op['op']}")


def _containers(obj: dict) -> list[dict]:
    spec = obj.get("spec", {}).get("template", {}).get("spec", {})
    return [*spec.get("initContainers", []), *spec.get("containers", [])]


def _key(obj: dict) -> tuple[str, str, str]:
    return obj["apiVersion"], obj["kind"], obj["metadata"]["name"]


def _by_kind(objects: list[dict], kind: str) -> dict[str, dict]:
    return {o["metadata"]["name"]: o for o in objects if o["kind"] == kind}


def _cpu(value: str) -> float:
    return float(value[:-1]) / 1000 if str(value).endswith("m") else float(value)


def _memory(value: str) -> float:
    units = {"Ki": 2 ** 10, "Mi": 2 ** 20, "Gi": 2 ** 30, "Ti": 2 ** 40}
    for suffix, factor in units.items():
        if str(value).endswith(suffix):
            return float(value[: -len(suffix)]) * factor
    return float(value)


@pytest.fixture(scope="module", params=["base", "peak"])
def rendered(request: pytest.FixtureRequest) -> tuple[str, list[dict]]:
    return request.param, render(BASE if request.param == "base" else PEAK)


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return render(BASE)


@pytest.fixture(scope="module")
def peak() -> list[dict]:
    return render(PEAK)


# -- the renderer agrees with kustomize ------------------------------------------------------------

@pytest.mark.skipif(shutil.which("kubectl") is None, reason="kubectl is not installed")
@pytest.mark.parametrize("directory", [BASE, PEAK], ids=["base", "peak"])
def test_python_rendering_matches_kubectl_kustomize(directory):
    done = subprocess.run(["kubectl", "kustomize", str(directory)], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    theirs = {_key(o): o for o in yaml.safe_load_all(done.stdout) if o}
    ours = {_key(o): o for o in render(directory)}
    assert set(ours) == set(theirs)
    for key, obj in ours.items():
        assert obj == theirs[key], f"{key} differs from kubectl kustomize"


# -- schemas -----------------------------------------------------------------------------------

def test_builtin_objects_validate_against_the_kubernetes_schemas(rendered):
    _name, objects = rendered
    builtin = [o for o in objects if not o["apiVersion"].startswith(("kafka.strimzi.io/", "monitoring.coreos.com/"))]
    assert builtin
    for obj in builtin:
        try:
            kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            path = ".".join(str(p) for p in exc.path)
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {exc.message}")


def test_validator_works_offline_and_catches_mistakes():
    """Guards the check above: a misspelt field and a wrong type must both fail."""
    bad = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"},
           "spec": {"replicas": "two", "selector": {"matchLabels": {"a": "b"}},
                    "template": {"metadata": {"labels": {"a": "b"}},
                                 "spec": {"containers": [{"name": "x", "image": "x", "readynessProbe": {}}]}}}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(bad, KUBERNETES_VERSION, strict=True)


# The parts of Strimzi's CRD schemas (kafka.strimzi.io/v1beta2) that these manifests use.
_NAME = {"type": "string", "pattern": r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$", "maxLength": 253}
_CLUSTER_LABEL = {"type": "object", "required": ["strimzi.io/cluster"],
                  "properties": {"strimzi.io/cluster": _NAME}}
_RESOURCES = {"type": "object", "additionalProperties": False,
              "properties": {"requests": {"type": "object"}, "limits": {"type": "object"}}}
STRIMZI_SCHEMAS = {
    "Kafka": {
        "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": {"type": "object", "required": ["name"], "properties": {"name": _NAME}},
            "spec": {
                "type": "object", "required": ["kafka"], "not": {"required": ["zookeeper"]},
                "properties": {
                    "kafka": {
                        "type": "object", "required": ["listeners"],
                        "properties": {
                            "version": {"type": "string"},
                            "listeners": {"type": "array", "minItems": 1, "items": {
                                "type": "object", "required": ["name", "port", "type", "tls"],
                                "additionalProperties": False,
                                "properties": {
                                    "name": {"type": "string", "pattern": r"^[a-z0-9]{1,11}$"},
                                    "port": {"type": "integer", "minimum": 9092, "not": {"enum": [9404, 9999]}},
                                    "type": {"enum": ["internal", "route", "loadbalancer", "nodeport",
                                                      "ingress", "cluster-ip"]},
                                    "tls": {"type": "boolean"},
                                    "authentication": {"type": "object"},
                                    "configuration": {"type": "object"},
                                }}},
                            "config": {"type": "object"},
                        }},
                    "entityOperator": {"type": "object", "required": ["topicOperator"],
                                       "properties": {"topicOperator": {"type": "object"},
                                                      "userOperator": {"type": "object"}}},
                    "kafkaExporter": {"type": "object", "additionalProperties": False,
                                      "properties": {"groupRegex": {"type": "string"},
                                                     "topicRegex": {"type": "string"},
                                                     "resources": _RESOURCES}},
                },
            },
        },
    },
    "KafkaNodePool": {
        "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": {"type": "object", "required": ["name", "labels"],
                         "properties": {"name": _NAME, "labels": _CLUSTER_LABEL}},
            "spec": {
                "type": "object", "required": ["replicas", "roles", "storage"], "additionalProperties": False,
                "properties": {
                    "replicas": {"type": "integer", "minimum": 0},
                    "roles": {"type": "array", "minItems": 1, "uniqueItems": True,
                              "items": {"enum": ["controller", "broker"]}},
                    "storage": {
                        "type": "object", "required": ["type", "volumes"],
                        "properties": {
                            "type": {"const": "jbod"},
                            "volumes": {"type": "array", "minItems": 1, "items": {
                                "type": "object", "required": ["id", "type", "size"], "additionalProperties": False,
                                "properties": {
                                    "id": {"type": "integer", "minimum": 0},
                                    "type": {"enum": ["persistent-claim", "ephemeral"]},
                                    "size": {"type": "string", "pattern": r"^[0-9]+(Mi|Gi|Ti)$"},
                                    "deleteClaim": {"type": "boolean"},
                                    "class": {"type": "string"},
                                    "kraftMetadata": {"const": "shared"},
                                }}},
                        }},
                    "resources": _RESOURCES,
                    "jvmOptions": {"type": "object"},
                    "template": {"type": "object"},
                },
            },
        },
    },
    "KafkaTopic": {
        "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": {"type": "object", "required": ["name", "labels"],
                         "properties": {"name": _NAME, "labels": _CLUSTER_LABEL}},
            "spec": {
                "type": "object", "required": ["topicName", "partitions", "replicas"], "additionalProperties": False,
                "properties": {
                    "topicName": {"type": "string", "pattern": r"^[a-zA-Z0-9._-]{1,249}$"},
                    "partitions": {"type": "integer", "minimum": 1},
                    "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                    "config": {"type": "object", "additionalProperties": {"type": ["string", "integer", "boolean"]}},
                },
            },
        },
    },
    "KafkaUser": {
        "type": "object", "required": ["apiVersion", "kind", "metadata", "spec"],
        "properties": {
            "metadata": {"type": "object", "required": ["name", "labels"],
                         "properties": {"name": _NAME, "labels": _CLUSTER_LABEL}},
            "spec": {
                "type": "object", "additionalProperties": False,
                "properties": {
                    "authentication": {"type": "object", "required": ["type"], "properties": {
                        "type": {"enum": ["tls", "tls-external", "scram-sha-512"]}}},
                    "authorization": {"type": "object", "required": ["type", "acls"], "properties": {
                        "type": {"const": "simple"},
                        "acls": {"type": "array", "items": {
                            "type": "object", "required": ["resource", "operations"], "properties": {
                                "resource": {"type": "object", "required": ["type"], "properties": {
                                    "type": {"enum": ["topic", "group", "cluster", "transactionalId"]},
                                    "name": {"type": "string"},
                                    "patternType": {"enum": ["literal", "prefix"]}}},
                                "operations": {"type": "array", "minItems": 1, "items": {"enum": [
                                    "Read", "Write", "Create", "Delete", "Alter", "Describe", "ClusterAction",
                                    "AlterConfigs", "DescribeConfigs", "IdempotentWrite", "All"]}},
                            }}},
                    }},
                },
            },
        },
    },
}


def test_strimzi_resources_match_their_schemas(rendered):
    _name, objects = rendered
    strimzi = [o for o in objects if o["apiVersion"].startswith("kafka.strimzi.io/")]
    assert {o["kind"] for o in strimzi} == {"Kafka", "KafkaNodePool", "KafkaTopic", "KafkaUser"}
    for obj in strimzi:
        assert obj["apiVersion"] == STRIMZI, f"{_key(obj)}: use {STRIMZI}"
        try:
            jsonschema.validate(obj, STRIMZI_SCHEMAS[obj["kind"]])
        except jsonschema.ValidationError as exc:
            pytest.fail(f"{obj['kind']}/{obj['metadata']['name']}: {list(exc.path)}: {exc.message}")


# -- Kafka through Strimzi -----------------------------------------------------------------------

def test_kafka_runs_kraft_with_node_pools_and_every_pool_belongs_to_it(rendered):
    _name, objects = rendered
    [kafka] = _by_kind(objects, "Kafka").values()
    assert kafka["metadata"]["annotations"]["strimzi.io/node-pools"] == "enabled"
    assert kafka["metadata"]["annotations"]["strimzi.io/kraft"] == "enabled"
    pools = _by_kind(objects, "KafkaNodePool").values()
    assert all(p["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"] for p in pools)
    controllers = sum(p["spec"]["replicas"] for p in pools if "controller" in p["spec"]["roles"])
    brokers = sum(p["spec"]["replicas"] for p in pools if "broker" in p["spec"]["roles"])
    assert controllers % 2 == 1 and controllers >= 3, "a KRaft quorum needs an odd number (>= 3) of controllers"
    assert brokers >= 3
    config = kafka["spec"]["kafka"]["config"]
    assert config["min.insync.replicas"] == 2 and config["default.replication.factor"] == 3
    assert config["auto.create.topics.enable"] is False


def test_every_topic_and_its_dead_letter_twin_has_a_kafka_topic(rendered):
    _name, objects = rendered
    [kafka] = _by_kind(objects, "Kafka").values()
    brokers = sum(p["spec"]["replicas"] for p in _by_kind(objects, "KafkaNodePool").values()
                  if "broker" in p["spec"]["roles"])
    topics = {t["spec"]["topicName"]: t for t in _by_kind(objects, "KafkaTopic").values()}
    assert set(topics) == set(all_topic_names())
    for name, topic in topics.items():
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        assert 3 <= topic["spec"]["replicas"] <= brokers
        assert int(topic["spec"]["config"]["min.insync.replicas"]) < topic["spec"]["replicas"]
        assert topic["metadata"]["namespace"] == kafka["metadata"]["namespace"], \
            "the topic operator only watches its Kafka's namespace"


def test_config_points_the_apps_at_the_strimzi_bootstrap_service(rendered):
    _name, objects = rendered
    [kafka] = _by_kind(objects, "Kafka").values()
    [config] = _by_kind(objects, "ConfigMap").values()
    plain = [lst for lst in kafka["spec"]["kafka"]["listeners"] if not lst["tls"]][0]
    bootstrap = f"{kafka['metadata']['name']}-kafka-bootstrap:{plain['port']}"
    assert config["data"]["KAFKA_BOOTSTRAP_SERVERS"] == bootstrap
    assert config["data"]["KAFKA_CREATE_TOPICS"] == "false", "topics belong to the topic operator"


def test_listeners_need_scram_and_acls_are_enforced(rendered):
    _name, objects = rendered
    [kafka] = _by_kind(objects, "Kafka").values()
    for listener in kafka["spec"]["kafka"]["listeners"]:
        assert listener.get("authentication", {}).get("type") == "scram-sha-512", listener["name"]
    assert kafka["spec"]["kafka"]["authorization"]["type"] == "simple"
    config = _by_kind(objects, "ConfigMap")["fulfilment-config"]["data"]
    assert config["KAFKA_SECURITY_PROTOCOL"] == "SASL_PLAINTEXT" and config["KAFKA_SASL_MECHANISM"] == "SCRAM-SHA-512"


@pytest.mark.parametrize("app", list(APPS))
def test_each_app_signs_in_as_its_kafka_user(rendered, app):
    _name, objects = rendered
    [kafka] = _by_kind(objects, "Kafka").values()
    user = _by_kind(objects, "KafkaUser")[app]
    assert user["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
    assert user["spec"]["authentication"]["type"] == "scram-sha-512"
    [container] = _by_kind(objects, "Deployment")[app]["spec"]["template"]["spec"]["containers"]
    env = {e["name"]: e for e in container.get("env", [])}
    assert env["KAFKA_SASL_USERNAME"]["value"] == app
    # The user operator writes the password into a Secret named after the KafkaUser.
    assert env["KAFKA_SASL_PASSWORD"]["valueFrom"]["secretKeyRef"] == {"name": app, "key": "password"}


# -- services and console --------------------------------------------------------------------------

@pytest.mark.parametrize("app", list(APPS))
def test_deployment_runs_its_module_with_probes_and_resources(rendered, app):
    _name, objects = rendered
    prefix, port, module = APPS[app]
    deployment = _by_kind(objects, "Deployment")[app]
    [container] = deployment["spec"]["template"]["spec"]["containers"]
    assert container["command"] == ["python", "-m", module]
    path = REPO.joinpath(*module.split("."))
    assert (path / "__main__.py").is_file() or path.with_suffix(".py").is_file(), f"no module {module}"
    assert container["image"].split(":")[0] == "peak-fulfilment"
    assert "/" not in container["image"].split(":")[0], "no registry host in image names"
    [http] = container["ports"]
    assert http["containerPort"] == port
    for probe, path_ in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
        get = container[probe]["httpGet"]
        assert get["path"] == path_ and get["port"] in (port, http["name"]), f"{app} {probe}"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind]), f"{app} resources.{kind}"
    config = {k: v for k, v in _by_kind(objects, "ConfigMap")["fulfilment-config"]["data"].items()}
    assert config[f"{prefix}_HOST"] == "0.0.0.0"
    assert int(config[f"{prefix}_HTTP_PORT"]) == port
    assert {"configMapRef": {"name": "fulfilment-config"}} in container["envFrom"]


@pytest.mark.parametrize("app", SERVICES)
def test_readiness_probe_follows_the_database_not_the_broker(rendered, app):
    """R25: a Kafka outage must leave the pods in their Service (degraded: orders go into the
    outbox), so no probe asks /brokerz (the broker alone), and what the readiness probe asks,
    /readyz, is ready with the database up and the broker down (shared/readiness.py; shown on
    running services by tests/integration/test_ready_without_broker.py)."""
    _name, objects = rendered
    [container] = _by_kind(objects, "Deployment")[app]["spec"]["template"]["spec"]["containers"]
    paths = {probe: container[probe]["httpGet"]["path"]
             for probe in ("startupProbe", "readinessProbe", "livenessProbe") if probe in container}
    assert paths["readinessProbe"] == "/readyz", paths
    assert "/brokerz" not in paths.values(), paths
    answer = readiness_answer(app, database=True, broker=BrokerSignal(), relay=False, outbox_backlog=7)
    assert answer["ready"] and answer["degraded"] and answer["down"] == ["broker"], answer
    assert app in DEGRADED_WORK, f"say what {app} still does while the broker is away"
    assert not readiness_answer(app, database=False, broker=BrokerSignal(), relay=False, outbox_backlog=None)["ready"]


@pytest.mark.parametrize("app", SERVICES)
def test_each_service_gets_only_its_own_database_url_from_the_secret(rendered, app):
    _name, objects = rendered
    prefix = APPS[app][0]
    [container] = _by_kind(objects, "Deployment")[app]["spec"]["template"]["spec"]["containers"]
    database_env = [e for e in container.get("env", []) if e["name"].endswith("_DATABASE_URL")]
    assert [e["name"] for e in database_env] == [f"{prefix}_DATABASE_URL"]
    ref = database_env[0]["valueFrom"]["secretKeyRef"]
    secret = _by_kind(objects, "Secret")[ref["name"]]
    url = secret["stringData"][ref["key"]]
    assert re.match(rf"^postgresql\+psycopg://{app}:[^@]+@[^/]+/{app}$", url), url
    config = _by_kind(objects, "ConfigMap")["fulfilment-config"]["data"]
    assert not [k for k in config if k.endswith("_DATABASE_URL")], "database URLs belong in the Secret"


@pytest.mark.parametrize("app", list(APPS))
def test_each_deployment_has_a_service_and_an_autoscaler(rendered, app):
    _name, objects = rendered
    port = APPS[app][1]
    deployment = _by_kind(objects, "Deployment")[app]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert deployment["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    service = _by_kind(objects, "Service")[app]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    assert [p["port"] for p in service["spec"]["ports"]] == [port]
    hpa = _by_kind(objects, "HorizontalPodAutoscaler")[app]
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": app}
    assert 1 <= hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]


def test_everything_lives_in_the_namespace(rendered):
    _name, objects = rendered
    for obj in objects:
        if obj["kind"] == "Namespace":
            assert obj["metadata"]["name"] == NAMESPACE
        else:
            assert obj["metadata"]["namespace"] == NAMESPACE, _key(obj)


# -- the peak overlay ----------------------------------------------------------------------------

@pytest.mark.parametrize("app", list(APPS))
def test_peak_runs_more_and_bigger_instances(base, peak, app):
    small, big = _by_kind(base, "Deployment")[app], _by_kind(peak, "Deployment")[app]
    assert big["spec"]["replicas"] > small["spec"]["replicas"]
    small_hpa, big_hpa = _by_kind(base, "HorizontalPodAutoscaler")[app], _by_kind(peak, "HorizontalPodAutoscaler")[app]
    assert big_hpa["spec"]["maxReplicas"] > small_hpa["spec"]["maxReplicas"]
    assert big_hpa["spec"]["minReplicas"] >= small_hpa["spec"]["minReplicas"]
    [c_small] = small["spec"]["template"]["spec"]["containers"]
    [c_big] = big["spec"]["template"]["spec"]["containers"]
    for kind in ("requests", "limits"):
        assert _cpu(c_big["resources"][kind]["cpu"]) > _cpu(c_small["resources"][kind]["cpu"])
        assert _memory(c_big["resources"][kind]["memory"]) > _memory(c_small["resources"][kind]["memory"])


@pytest.mark.parametrize("app", SERVICES)
def test_autoscaling_ceiling_fits_the_partitions_the_service_consumes(rendered, app):
    """A consumer group uses at most one instance per partition: more would sit idle."""
    _name, objects = rendered
    topics = {t["spec"]["topicName"]: t["spec"]["partitions"] for t in _by_kind(objects, "KafkaTopic").values()}
    consumed = [spec.name for spec in ALL_TOPICS if app in spec.consumers]
    assert consumed, f"{app} consumes nothing?"
    ceiling = _by_kind(objects, "HorizontalPodAutoscaler")[app]["spec"]["maxReplicas"]
    busiest = max(topics[name] for name in consumed)
    assert ceiling <= busiest, f"{app}: up to {ceiling} instances, but its busiest topic has {busiest} partitions"


def test_peak_adds_brokers(base, peak):
    def brokers(objects):
        return sum(p["spec"]["replicas"] for p in _by_kind(objects, "KafkaNodePool").values()
                   if "broker" in p["spec"]["roles"])
    assert brokers(peak) > brokers(base)
