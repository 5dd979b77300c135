"""TLS material for the Kafka brokers of docker-compose.yml: a private CA and one broker certificate.

Run once by the `kafka-certs` one-shot container before anything else starts:

    python -m deploy.compose_certs --ca-dir /certs/ca --broker-dir /certs/broker

It writes two directories, each backed by its own named volume, so that a container only sees
what it needs:

- <ca-dir>/ca.pem: the CA certificate (public). The brokers use it as their PEM truststore (they
  are TLS clients of each other and of the controllers); the services, kafka-exporter and host
  clients use it to verify the brokers (KAFKA_SSL_CAFILE).
- <broker-dir>/broker-keystore.pem: the broker's private key (unencrypted PKCS#8) followed by its
  certificate and the CA certificate: Kafka's PEM keystore format (ssl.keystore.type=PEM), the
  same layout deploy/localkafka.py uses for its --tls option. Only the brokers mount this volume.

The one certificate serves all three brokers: its subjectAltName lists kafka-1, kafka-2, kafka-3
(the names the brokers and the services use inside the compose network), localhost and 127.0.0.1
(host clients on the published EXTERNAL ports). The CA's private key exists only while this script
runs: nothing else is ever signed with it, so it is not kept anywhere an attacker could take it.

Existing material is kept: a second run (every `docker compose up`) changes nothing, so host
clients can keep trusting the same ca.pem. To issue new certificates, remove both volumes
(`docker compose down -v` removes all volumes, data included).

Only the standard library and the `openssl` binary are used; deploy/Dockerfile installs openssl
in the project image. The apache/kafka image (Alpine JRE) does not ship it.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CA_FILE = "ca.pem"
KEYSTORE_FILE = "broker-keystore.pem"
# Names clients use to reach a broker: the compose service names, and the host's loopback.
BROKER_DNS_NAMES = ("kafka-1", "kafka-2", "kafka-3", "localhost")
BROKER_IPS = ("127.0.0.1",)
# A development deployment: long-lived, so an idle laptop setup does not break after a year.
VALID_DAYS = 3650


class CertError(RuntimeError):
    """openssl is missing or failed."""


def subject_alt_names() -> str:
    return ",".join([*(f"DNS:{n}" for n in BROKER_DNS_NAMES), *(f"IP:{ip}" for ip in BROKER_IPS)])


def _openssl(*args: str) -> str:
    openssl = shutil.which("openssl")
    if openssl is None:
        raise CertError("the openssl binary is not on PATH; it is needed to create the Kafka certificates")
    done = subprocess.run([openssl, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    if done.returncode != 0:
        raise CertError(f"openssl {args[0]} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def _write(path: Path, text: str, mode: int) -> None:
    """Write via a temporary file and rename: a reader never sees a half-written file."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.unlink(missing_ok=True)  # a read-only leftover of an interrupted run
    tmp.write_text(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def make(ca_dir: Path, broker_dir: Path) -> bool:
    """Create the CA certificate and the broker keystore unless both exist; True if it created them."""
    ca_cert, keystore = ca_dir / CA_FILE, broker_dir / KEYSTORE_FILE
    if ca_cert.is_file() and keystore.is_file():
        return False
    ca_dir.mkdir(parents=True, exist_ok=True)
    broker_dir.mkdir(parents=True, exist_ok=True)
    # Half a pair (an interrupted first run) is useless: both are made again, together.
    with tempfile.TemporaryDirectory(prefix="kafka-certs-") as work:
        w = Path(work)
        # The CA: self-signed, allowed to sign certificates and nothing else.
        _openssl("req", "-x509", "-newkey", "rsa:3072", "-nodes", "-days", str(VALID_DAYS),
                 "-subj", "/CN=peak-fulfilment Kafka CA (compose)",
                 "-addext", "basicConstraints=critical,CA:TRUE,pathlen:0",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                 "-keyout", str(w / "ca-key.pem"), "-out", str(w / "ca.pem"))
        # The broker: a key, a request, and the CA's signature with the names clients dial.
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=kafka",
                 "-keyout", str(w / "broker-key.pem"), "-out", str(w / "broker.csr"))
        (w / "broker.ext").write_text(
            "basicConstraints=critical,CA:FALSE\n"
            "keyUsage=critical,digitalSignature,keyEncipherment\n"
            # serverAuth for its listeners; clientAuth because a broker is also the TLS client
            # of the other brokers and of the controllers.
            "extendedKeyUsage=serverAuth,clientAuth\n"
            "subjectKeyIdentifier=hash\n"
            "authorityKeyIdentifier=keyid:always\n"
            f"subjectAltName={subject_alt_names()}\n")
        _openssl("x509", "-req", "-in", str(w / "broker.csr"), "-CA", str(w / "ca.pem"),
                 "-CAkey", str(w / "ca-key.pem"), "-CAcreateserial", "-days", str(VALID_DAYS),
                 "-sha256", "-extfile", str(w / "broker.ext"), "-out", str(w / "broker.pem"))
        # Kafka's PEM keystore: the PKCS#8 key, then the certificate chain (leaf first).
        pkcs8 = _openssl("pkcs8", "-topk8", "-nocrypt", "-in", str(w / "broker-key.pem"))
        chain = (w / "broker.pem").read_text() + (w / "ca.pem").read_text()
        # World-readable on purpose: the brokers run as the apache/kafka image's own user, whose
        # uid this container does not control. The volume holding it is mounted by the brokers
        # alone, which is what keeps the key private.
        _write(keystore, pkcs8 + chain, 0o444)
        # Last: its presence (with the keystore) is what later runs take as "done".
        _write(ca_cert, (w / "ca.pem").read_text(), 0o444)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.compose_certs",
                                     description="Create the compose Kafka CA and broker certificate once.")
    parser.add_argument("--ca-dir", type=Path, required=True, help=f"where {CA_FILE} goes (shared, public)")
    parser.add_argument("--broker-dir", type=Path, required=True,
                        help=f"where {KEYSTORE_FILE} goes (brokers only: it holds the private key)")
    args = parser.parse_args(argv)
    try:
        created = make(args.ca_dir, args.broker_dir)
    except (CertError, OSError) as e:
        print(f"compose_certs: {e}", file=sys.stderr)
        return 1
    if created:
        print(f"compose_certs: created {args.ca_dir / CA_FILE} and {args.broker_dir / KEYSTORE_FILE} "
              f"(SAN {subject_alt_names()})")
    else:
        print(f"compose_certs: {args.ca_dir / CA_FILE} and {args.broker_dir / KEYSTORE_FILE} exist; kept")
    return 0


if __name__ == "__main__":
    sys.exit(main())
