"""Structure of docker-compose.yml, deploy/Dockerfile, and the Prometheus and Grafana files.

No Docker engine runs here, so these read the files: each test fails when a service, port, env var,
health check or image the platform needs is missing or wrong.
"""

from __future__ import annotations

import json
import re
import ssl
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from shared.metrics import ServiceMetrics

REPO = Path(__file__).resolve().parents[2]
COMPOSE = REPO / "docker-compose.yml"
DEPLOY = REPO / "deploy"

# container name -> (env prefix, HTTP port, module run by `python -m`)
APPS = {
    "orders": ("ORDERS", 8101, "services.orders"),
    "inventory": ("INVENTORY", 8102, "services.inventory"),
    "logistics": ("LOGISTICS", 8103, "services.logistics"),
    "aftersales": ("AFTERSALES", 8104, "services.aftersales"),
    "console": ("CONSOLE", 8100, "console"),
}
SERVICES = [name for name in APPS if name != "console"]  # the ones that own a database
BROKERS = ["kafka-1", "kafka-2", "kafka-3"]
RESTART_POLICIES = {"always", "unless-stopped", "on-failure"}
# Jobs others wait for (service_completed_successfully) may also run exactly once.
ONE_SHOT_RESTART_POLICIES = {"no", "on-failure"}
CERTS = "kafka-certs"  # the one-shot that makes the CA and the brokers' certificate
# Metrics the dashboard charts that the services do not export yet (issue 10's observability part).
# Business gauges a service registers with ServiceMetrics.gauge_from("<name>", ...).
# gauge_from prefixes the name it is given (shared/metrics.PREFIX).
SERVICE_GAUGES = {"peak_" + m for path in (REPO / "services").glob("*/app.py")
                  for m in re.findall(r'gauge_from\(\s*"(\w+)"', path.read_text())}
# Exported by kafka-exporter (compose) / Strimzi's Kafka Exporter (Kubernetes), not by our code.
KAFKA_EXPORTER_METRICS = {"kafka_consumergroup_lag"}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


@pytest.fixture(scope="module")
def services(compose: dict) -> dict:
    return compose["services"]


def _env(service: dict) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {k: str(v) for k, v in env.items()}


def _host_ports(service: dict) -> list[tuple[int, int]]:
    """(host, container) pairs of a service's published ports."""
    pairs = []
    for entry in service.get("ports", []):
        if isinstance(entry, dict):
            pairs.append((int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        assert len(parts) in (2, 3), f"port {entry!r} must name its host port"
        pairs.append((int(parts[-2]), int(parts[-1])))
    return pairs


def _module_exists(module: str) -> bool:
    path = REPO.joinpath(*module.split("."))
    return (path / "__main__.py").is_file() or path.with_suffix(".py").is_file()


def _one_shot_jobs(services: dict) -> set[str]:
    """Services some other service waits for with condition service_completed_successfully."""
    return {needed for service in services.values()
            for needed, how in (service.get("depends_on") or {}).items()
            if isinstance(how, dict) and how.get("condition") == "service_completed_successfully"}


def _mounts(service: dict) -> dict[str, tuple[str, bool]]:
    """container path -> (source, read_only) of a service's volumes (short syntax)."""
    found = {}
    for entry in service.get("volumes", []):
        source, target, *mode = str(entry).split(":")
        found[target] = (source, "ro" in mode)
    return found


def _mounted_from(service: dict, path: str) -> tuple[str, bool] | None:
    """(source, read_only) of the mount a container path lies in; None if it is in the image."""
    best = None
    for target, mount in _mounts(service).items():
        if path == target or path.startswith(target.rstrip("/") + "/"):
            if best is None or len(target) > len(best[0]):
                best = (target, mount)
    return best[1] if best else None


def _internal_brokers(services: dict) -> set[str]:
    """host:port of each broker's listener for other containers (its INTERNAL advertised listener)."""
    found = set()
    for name in BROKERS:
        listeners = _env(services[name])["KAFKA_ADVERTISED_LISTENERS"].split(",")
        [internal] = [x for x in listeners if x.startswith("INTERNAL://")]
        found.add(internal.removeprefix("INTERNAL://"))
    return found


# -- every container ---------------------------------------------------------------------------

def test_the_platform_has_every_piece(services):
    expected = {*BROKERS, "postgres", *APPS, "prometheus", "grafana"}
    assert expected <= set(services), f"missing: {expected - set(services)}"


def test_every_container_has_a_health_check_and_a_restart_policy(services):
    jobs = _one_shot_jobs(services)
    for name, service in services.items():
        check = service.get("healthcheck")
        assert check and check.get("test") and not check.get("disable"), f"{name} has no health check"
        allowed = RESTART_POLICIES | ONE_SHOT_RESTART_POLICIES if name in jobs else RESTART_POLICIES
        assert service.get("restart") in allowed, f"{name} has no restart policy"


def test_host_ports_do_not_clash(services):
    seen: dict[int, str] = {}
    for name, service in services.items():
        for host, _container in _host_ports(service):
            assert host not in seen, f"host port {host} of {name} is taken by {seen[host]}"
            seen[host] = name


def test_images_name_no_registry_host(services):
    for name, service in services.items():
        image = service.get("image")
        assert image, f"{name} has no image"
        first = image.split("/")[0]
        assert "/" not in image or not ("." in first or ":" in first or first == "localhost"), \
            f"{name}: image {image!r} names a registry host"


# -- Kafka -------------------------------------------------------------------------------------

def test_kafka_is_three_kraft_brokers_of_the_official_image(services):
    node_ids, cluster_ids = set(), set()
    for name in BROKERS:
        service = services[name]
        image = service["image"]
        assert image.startswith("apache/kafka:"), image
        assert image.split(":")[1].split(".")[0] == "4", f"{name}: Kafka 4.x expected, got {image}"
        env = _env(service)
        assert set(env["KAFKA_PROCESS_ROLES"].split(",")) >= {"broker", "controller"}
        voters = env["KAFKA_CONTROLLER_QUORUM_VOTERS"].split(",")
        assert {v.split("@")[1].split(":")[0] for v in voters} == set(BROKERS)
        assert f"{env['KAFKA_NODE_ID']}@{name}:" in env["KAFKA_CONTROLLER_QUORUM_VOTERS"]
        node_ids.add(env["KAFKA_NODE_ID"])
        cluster_ids.add(env["CLUSTER_ID"])
        assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
        assert int(env["KAFKA_DEFAULT_REPLICATION_FACTOR"]) == 3
        assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"
        assert any("/var/lib/kafka/data" in v for v in service.get("volumes", [])), f"{name} keeps no data"
    assert len(node_ids) == 3 and len(cluster_ids) == 1
    assert _internal_brokers(services) == {f"{b}:19092" for b in BROKERS}


def test_external_listeners_match_the_published_ports(services):
    for name in BROKERS:
        service = services[name]
        [(host_port, container_port)] = _host_ports(service)
        env = _env(service)
        external = [x for x in env["KAFKA_ADVERTISED_LISTENERS"].split(",") if x.startswith("EXTERNAL://")]
        assert external == [f"EXTERNAL://localhost:{host_port}"]
        assert f"EXTERNAL://:{container_port}" in env["KAFKA_LISTENERS"]


# -- Kafka security (docs/security.md) -----------------------------------------------------------

def _scram_users(services: dict) -> dict[str, str]:
    """name -> password expression of the SCRAM users the brokers create at format time."""
    users = {}
    for pair in _env(services["kafka-1"])["PEAK_SCRAM_USERS"].split():
        name, _, password = pair.partition("=")
        users[name] = password
    return users


def test_brokers_require_sasl_and_enforce_acls(services):
    for name in BROKERS:
        env = _env(services[name])
        protocols = dict(x.split(":") for x in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        listeners = {x.split("://")[0] for x in env["KAFKA_LISTENERS"].split(",")}
        assert all(protocols[l] == "SASL_SSL" for l in listeners), protocols
        assert "SCRAM-SHA-256" in env["KAFKA_SASL_ENABLED_MECHANISMS"].split(",")
        assert env["KAFKA_AUTHORIZER_CLASS_NAME"] == "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
        assert env["KAFKA_SUPER_USERS"] == "User:admin"
        assert env["KAFKA_ALLOW_EVERYONE_IF_NO_ACL_FOUND"] == "false"
        assert env["PEAK_SCRAM_USERS"] == _env(services["kafka-1"])["PEAK_SCRAM_USERS"]
        script = services[name]["entrypoint"][-1]
        [mount] = [v for v in services[name]["volumes"] if v.split(":")[1] == script]
        text = (REPO / mount.split(":")[0]).read_text()
        assert "--add-scram" in text and "exec /etc/kafka/docker/launch" in text
        assert "--command-config" in " ".join(services[name]["healthcheck"]["test"])
        # The health check's own client speaks TLS too, with the mounted CA.
        assert "security.protocol=SASL_SSL" in text and "ssl.truststore.location=${KAFKA_SSL_TRUSTSTORE_LOCATION}" in text


def test_every_broker_listener_uses_tls_from_the_certs_volumes(services):
    producers = _mounts(services[CERTS])
    for name in BROKERS:
        service, env = services[name], _env(services[name])
        protocols = dict(x.split(":") for x in env["KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"].split(","))
        listeners = {x.split("://")[0] for x in env["KAFKA_LISTENERS"].split(",")}
        controller = env["KAFKA_CONTROLLER_LISTENER_NAMES"]
        for listener in listeners:
            allowed = {"SASL_SSL", "SSL"} if listener == controller else {"SASL_SSL"}
            assert protocols[listener] in allowed, f"{name}: {listener} is {protocols[listener]}"
        # The image's configure script treats "SSL://" in the advertised listeners as a call for
        # its JKS secrets files (and rewrites the keystore location): listener names must avoid it.
        assert "SSL://" not in env["KAFKA_ADVERTISED_LISTENERS"]
        assert env["KAFKA_SSL_KEYSTORE_TYPE"] == "PEM" and env["KAFKA_SSL_TRUSTSTORE_TYPE"] == "PEM"
        # Keystore and truststore come read-only from volumes that kafka-certs fills.
        for key in ("KAFKA_SSL_KEYSTORE_LOCATION", "KAFKA_SSL_TRUSTSTORE_LOCATION"):
            mount = _mounted_from(service, env[key])
            assert mount, f"{name}: {env[key]} is not on a mounted volume"
            source, read_only = mount
            assert read_only, f"{name}: {source} should be mounted read-only"
            assert source in {src for src, _ro in producers.values()}, f"{name}: {source} is not made by {CERTS}"
        assert "KAFKA_SSL_ENDPOINT_IDENTIFICATION_ALGORITHM" not in env, "keep the brokers' hostname check"
        assert "KAFKA_SSL_CLIENT_AUTH" not in env, "clients sign in with SCRAM, not certificates"


def test_certificates_are_made_once_before_anything_uses_kafka(services):
    certs = services[CERTS]
    assert certs["restart"] == "no", "a one-shot: it runs once per `up` and exits"
    command = certs["command"]
    assert command[:2] == ["python", "-m"] and _module_exists(command[2]), command
    # The project's image: it has python and openssl (see deploy/compose_certs.py).
    assert certs["image"] == services["orders"]["image"] and certs["build"] == services["orders"]["build"]
    # Its --ca-dir and --broker-dir are both on named volumes (not in the container's own layer).
    dirs = {command[i]: command[i + 1] for i in range(3, len(command) - 1) if command[i].startswith("--")}
    ca_volume, _ = _mounted_from(certs, dirs["--ca-dir"])
    key_volume, _ = _mounted_from(certs, dirs["--broker-dir"])
    assert ca_volume != key_volume
    for volume in (ca_volume, key_volume):
        assert not volume.startswith((".", "/")), f"{volume} should be a named volume"
    # Everything that talks to Kafka waits for it to finish; only the brokers see the key.
    kafka_clients = [*BROKERS, "kafka-setup", *APPS, "kafka-exporter"]
    for name in kafka_clients:
        condition = services[name]["depends_on"][CERTS]["condition"]
        assert condition == "service_completed_successfully", name
    for name, service in services.items():
        sources = {src for src, _ro in _mounts(service).values()}
        if key_volume in sources:
            assert name in [*BROKERS, CERTS], f"{name} mounts the brokers' private key"
        if name in kafka_clients:
            assert ca_volume in sources, f"{name} does not mount the CA"


def test_the_cert_script_makes_a_pem_keystore_for_every_broker_name(tmp_path):
    from deploy import compose_certs

    ca_dir, key_dir = tmp_path / "ca", tmp_path / "broker"
    assert compose_certs.make(ca_dir, key_dir) is True
    ca, keystore = ca_dir / compose_certs.CA_FILE, key_dir / compose_certs.KEYSTORE_FILE
    text = keystore.read_text()
    # Kafka's PEM keystore: unencrypted PKCS#8 key first, then the chain.
    assert text.startswith("-----BEGIN PRIVATE KEY-----") and text.count("BEGIN CERTIFICATE") == 2
    assert "PRIVATE KEY" not in ca.read_text()
    names = ssl._ssl._test_decode_cert(str(keystore))["subjectAltName"]
    assert {("DNS", b) for b in BROKERS} | {("DNS", "localhost"), ("IP Address", "127.0.0.1")} <= set(names)
    context = ssl.create_default_context(cafile=str(ca))  # the CA verifies the broker's chain
    assert context.cert_store_stats()["x509_ca"] == 1
    # A second run (every `docker compose up`) keeps what is there.
    before = (ca.read_bytes(), keystore.read_bytes())
    assert compose_certs.make(ca_dir, key_dir) is False
    assert (ca.read_bytes(), keystore.read_bytes()) == before


@pytest.mark.parametrize("name", list(APPS))
def test_every_app_signs_in_to_kafka_as_its_own_user(services, name):
    env = _env(services[name])
    assert env["KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    # The CA is a file of a read-only volume in the container, the same one the brokers trust.
    mount = _mounted_from(services[name], env["KAFKA_SSL_CAFILE"])
    assert mount and mount[1], f"{name}: KAFKA_SSL_CAFILE {env['KAFKA_SSL_CAFILE']} is not on a read-only mount"
    broker_ca = _mounted_from(services["kafka-1"], _env(services["kafka-1"])["KAFKA_SSL_TRUSTSTORE_LOCATION"])
    assert mount[0] == broker_ca[0]
    assert env.get("KAFKA_SSL_CHECK_HOSTNAME", "true").lower() == "true"
    assert env["KAFKA_SASL_MECHANISM"] in ("SCRAM-SHA-256", "SCRAM-SHA-512")
    user, password = env["KAFKA_SASL_USERNAME"], env["KAFKA_SASL_PASSWORD"]
    assert user == name, "each app has its own user, so ACLs can tell them apart"
    # From the host's environment, with a clearly-marked development fallback only.
    assert re.fullmatch(r"\$\{KAFKA_[A-Z]+_PASSWORD:-dev-only-[a-z]+-password\}", password), password
    assert _scram_users(services)[user] == password, f"the brokers do not create the user {user}"


def test_no_app_is_a_kafka_super_user_and_every_app_has_acls(services):
    from deploy.kafka_acls import platform_table

    granted = {g.user for g in platform_table()}
    for name in APPS:
        assert _env(services[name])["KAFKA_SASL_USERNAME"] != "admin"
        assert name in granted, f"{name} has no ACLs in deploy/kafka_acls.py"
    assert {"platform", "monitor"} <= set(_scram_users(services))


def test_topics_and_acls_are_set_up_by_the_admin_before_the_apps(services):
    setup = services["kafka-setup"]
    assert setup["command"] == ["python", "-m", "deploy.kafka_acls", "apply", "--topics"]
    assert _env(setup)["KAFKA_SASL_USERNAME"] == "admin"
    for name in SERVICES:
        assert services[name]["depends_on"]["kafka-setup"]["condition"] == "service_completed_successfully"
        assert _env(services[name])["KAFKA_CREATE_TOPICS"] == "false"
    exporter = " ".join(services["kafka-exporter"]["command"])
    assert "--sasl.enabled" in exporter and "--sasl.username=monitor" in exporter
    assert "--tls.enabled" in exporter and "--tls.insecure-skip-tls-verify" not in exporter
    [ca_file] = re.findall(r"--tls\.ca-file=(\S+)", exporter)
    assert _mounted_from(services["kafka-exporter"], ca_file), "the exporter's CA file is not mounted"


# -- services and console ----------------------------------------------------------------------

@pytest.mark.parametrize("name", list(APPS))
def test_app_runs_its_module_from_the_one_image(services, name):
    prefix, port, module = APPS[name]
    service = services[name]
    assert service["command"] == ["python", "-m", module]
    assert _module_exists(module), f"`python -m {module}` has no module in the repo"
    build = service["build"]
    context = (REPO / build["context"]).resolve()
    assert context == REPO
    assert (context / build["dockerfile"]).is_file()
    images = {services[other]["image"] for other in APPS}
    assert len(images) == 1, f"one image for every app expected, got {images}"


@pytest.mark.parametrize("name", list(APPS))
def test_app_env_points_at_the_brokers(services, name):
    prefix, port, _module = APPS[name]
    env = _env(services[name])
    assert set(env["KAFKA_BOOTSTRAP_SERVERS"].split(",")) == _internal_brokers(services)
    assert int(env["KAFKA_REPLICATION_FACTOR"]) == 3
    assert int(env["KAFKA_MIN_INSYNC_REPLICAS"]) == 2
    assert env[f"{prefix}_HOST"] == "0.0.0.0", "inside a container the app must listen beyond loopback"
    assert int(env[f"{prefix}_HTTP_PORT"]) == port
    assert (port, port) in _host_ports(services[name])


@pytest.mark.parametrize("name", SERVICES)
def test_service_env_points_at_its_own_database(services, name):
    prefix, _port, _module = APPS[name]
    env = _env(services[name])
    url = urlsplit(env[f"{prefix}_DATABASE_URL"])
    assert url.scheme == "postgresql+psycopg"
    assert url.hostname == "postgres" and (url.port or 5432) == 5432
    assert url.path == f"/{name}" and url.username == name
    others = [k for k in env if k.endswith("_DATABASE_URL") and k != f"{prefix}_DATABASE_URL"]
    assert not others, f"{name} is given another service's database: {others}"
    depends = services[name]["depends_on"]
    for needed in [*BROKERS, "postgres"]:
        assert depends[needed]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", list(APPS))
def test_app_health_check_asks_readyz_on_its_port(services, name):
    _prefix, port, _module = APPS[name]
    test = " ".join(services[name]["healthcheck"]["test"])
    assert f":{port}/readyz" in test


@pytest.mark.parametrize("name", SERVICES)
def test_app_health_check_is_readiness_not_the_broker(services, name):
    """A Kafka outage leaves the apps healthy (degraded, shared/readiness.py): the check asks
    /readyz (the database), never /brokerz."""
    test = " ".join(services[name]["healthcheck"]["test"])
    assert "/brokerz" not in test and "/readyz" in test


def test_postgres_init_script_creates_each_service_database_and_role(services):
    mounts = [v for v in services["postgres"]["volumes"] if "docker-entrypoint-initdb.d" in v]
    assert mounts, "postgres mounts no init script"
    source = mounts[0].split(":")[0]
    script = (REPO / source).read_text()
    for name in SERVICES:
        prefix = APPS[name][0]
        password = urlsplit(_env(services[name])[f"{prefix}_DATABASE_URL"]).password
        assert f"CREATE ROLE {name} LOGIN PASSWORD '{password}';" in script
        assert f"CREATE DATABASE {name} OWNER {name};" in script


# -- image -------------------------------------------------------------------------------------

def test_dockerfile_installs_the_project_from_pyproject():
    text = (DEPLOY / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.11-slim\s*$", text, re.M)
    assert "pyproject.toml" in text and "pip install" in text
    for source in re.findall(r"^COPY\s+(\S+)\s+\S+\s*$", text, re.M):
        assert (REPO / source).exists(), f"Dockerfile copies {source}, which is not in the repo"


def test_project_depends_on_the_postgres_driver_the_urls_name():
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert any(re.match(r"psycopg(\[|\s|>|=|$)", d) for d in deps), \
        "docker-compose.yml and deploy/k8s use postgresql+psycopg URLs: add psycopg[binary] to dependencies"


def test_no_registry_host_names_in_deploy_files():
    hosts = [".".join(parts) for parts in (
        ("docker", "io"), ("quay", "io"), ("ghcr", "io"), ("gcr", "io"), ("registry", "k8s", "io"),
        ("pypi", "org"), ("files", "pythonhosted", "org"), ("registry", "npmjs", "org"),
        ("repo", "maven", "apache", "org"), ("repo1", "maven", "org"), ("deb", "debian", "org"))]
    files = [COMPOSE, REPO / "pyproject.toml", *[p for p in DEPLOY.rglob("*") if p.is_file()
                                                 and "__pycache__" not in p.parts]]
    for path in files:
        text = path.read_text(errors="replace")
        for host in hosts:
            assert host not in text, f"{path.relative_to(REPO)} names {host}"


# -- Prometheus and Grafana --------------------------------------------------------------------

def test_prometheus_scrapes_every_app(services):
    mounts = [v for v in services["prometheus"]["volumes"] if v.endswith("prometheus.yml:ro")]
    config = yaml.safe_load((REPO / mounts[0].split(":")[0]).read_text())
    targets = {}
    for job in config["scrape_configs"]:
        for static in job["static_configs"]:
            for target in static["targets"]:
                targets[target] = job.get("metrics_path", "/metrics")
    for name, (_prefix, port, _module) in APPS.items():
        assert targets.get(f"{name}:{port}") == "/metrics", f"{name} is not scraped"
    assert any(t.startswith("kafka-exporter:") for t in targets), "consumer lag is not scraped"


def test_grafana_provisions_the_datasource_and_the_dashboard(services):
    grafana = services["grafana"]
    mounts = dict(v.split(":")[:2] for v in grafana["volumes"] if v.startswith("./"))
    provisioning = REPO / [src for src, dst in mounts.items() if dst == "/etc/grafana/provisioning"][0]
    [datasource] = yaml.safe_load((provisioning / "datasources" / "prometheus.yml").read_text())["datasources"]
    assert datasource["type"] == "prometheus" and datasource["url"] == "http://prometheus:9090"
    [provider] = yaml.safe_load((provisioning / "dashboards" / "fulfilment.yml").read_text())["providers"]
    dashboards = REPO / [src for src, dst in mounts.items() if dst == provider["options"]["path"]][0]
    dashboard = json.loads((dashboards / "fulfilment.json").read_text())
    exprs = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    for metric in ("peak_events_published_total", "kafka_consumergroup_lag", "peak_sla_shipped_within_24h_ratio",
                   "peak_sla_shipped_within_48h_ratio", "peak_stock_low_skus", "peak_dead_letters_total"):
        assert any(metric in e for e in exprs), f"no panel charts {metric}"
    for panel in dashboard["panels"]:
        assert panel["datasource"]["uid"] == datasource["uid"]
        assert all(t["datasource"]["uid"] == datasource["uid"] for t in panel["targets"])
    ids = [p["id"] for p in dashboard["panels"]]
    assert len(ids) == len(set(ids))


def test_dashboard_charts_only_metrics_that_exist():
    exported = set(re.findall(r"^# TYPE (\S+) ", ServiceMetrics("probe").render().decode(), re.M))
    # Counters and histograms are queried by their series names.
    series = exported | {f"{m}_total" for m in exported} | {f"{m}_{s}" for m in exported
                                                            for s in ("bucket", "sum", "count")}
    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "fulfilment.json").read_text())
    words = set()
    for expr in (t["expr"] for p in dashboard["panels"] for t in p["targets"]):
        # Drop label matchers, range durations and grouping clauses: what is left are metric
        # names, functions and numbers.
        expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(?:by|without)\s*\([^)]*\)", " ", expr)
        words |= set(re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b", expr))
    functions = {"sum", "rate", "increase", "max", "min", "avg", "histogram_quantile"}
    unknown = words - functions - series - KAFKA_EXPORTER_METRICS - SERVICE_GAUGES
    assert not unknown, f"dashboard queries metrics nobody exports: {sorted(unknown)}"
