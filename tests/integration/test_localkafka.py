"""Real-broker tests for deploy/localkafka.py (needs Java 17+ and Maven; no Docker).

The first run fetches the Kafka jars with Maven (a few seconds); later runs reuse them.
"""

import socket
import time

import pytest

from deploy import localkafka

pytestmark = pytest.mark.integration


def _addresses(cluster):
    return [(host, int(port)) for host, port in
            (a.rsplit(":", 1) for a in cluster.bootstrap_servers.split(","))]


def _port_closed(host, port):
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex((host, port)) != 0


def _wait_for(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.5)
    return True


def test_single_broker_answers_then_stops_and_resumes(tmp_path):
    base = tmp_path / "kafka"
    with localkafka.start(port=None, brokers=1, base_dir=base) as cluster:
        [(host, port)] = _addresses(cluster)
        assert host == "127.0.0.1"
        versions = localkafka.api_versions(host, port)
        assert localkafka.API_VERSIONS in versions and localkafka.API_METADATA in versions
        assert localkafka.live_brokers(host, port) == {0: f"{host}:{port}"}
        assert localkafka.status(base)
        cluster_id = cluster.cluster_id
    # Leaving the context manager stopped the broker and freed its port.
    assert _port_closed(host, port)
    assert not localkafka.broker_answers(host, port)
    assert not localkafka.status(base)

    # A stopped data dir resumes with the same identity instead of being reformatted.
    meta = (base / "node-0" / "data" / "meta.properties").read_text()
    with localkafka.start(base_dir=base) as again:
        assert again.cluster_id == cluster_id
        assert localkafka.broker_answers(*_addresses(again)[0])
    assert (base / "node-0" / "data" / "meta.properties").read_text() == meta


def test_stop_from_another_handle_uses_state_file(tmp_path):
    base = tmp_path / "kafka"
    cluster = localkafka.start(brokers=1, base_dir=base)
    try:
        [(host, port)] = _addresses(cluster)
        localkafka.stop(base)  # what `python -m deploy.localkafka stop` does
        assert _port_closed(host, port)
    finally:
        cluster.stop()


@pytest.mark.slow
def test_three_brokers_survive_losing_one(tmp_path):
    with localkafka.start(port=None, brokers=3, base_dir=tmp_path / "kafka3") as cluster:
        addrs = _addresses(cluster)
        assert len(addrs) == 3
        assert set(localkafka.live_brokers(*addrs[1])) == {0, 1, 2}

        cluster.stop_broker(0)
        assert cluster.running() == [False, True, True]
        assert _port_closed(*addrs[0])
        for addr in addrs[1:]:
            assert localkafka.broker_answers(*addr)
        # The survivors keep a controller quorum (2 of 3) and drop node 0 from metadata.
        assert _wait_for(lambda: set(localkafka.live_brokers(*addrs[1])) == {1, 2})

        cluster.start_broker(0)  # same storage and ports
        assert cluster.running() == [True, True, True]
        assert localkafka.broker_answers(*addrs[0])
        assert set(localkafka.live_brokers(*addrs[2])) == {0, 1, 2}

        # A crash (SIGKILL, no controlled shutdown) recovers the same way.
        cluster.stop_broker(2, hard=True)
        assert cluster.running() == [True, True, False]
        assert localkafka.broker_answers(*addrs[0])
        cluster.start_broker(2)
        assert set(localkafka.live_brokers(*addrs[0])) == {0, 1, 2}
    for addr in addrs:
        assert _port_closed(*addr)
