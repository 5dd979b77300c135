"""Secure mode of the local broker: SCRAM users, the authorizer switch, and an optional TLS
certificate made with `openssl`.

Security travels with the cluster: it is written into the state file (so `status`, `stop` and a
resumed start can sign in as the admin) and turned into broker properties by
deploy/localkafka_config.py.
"""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
from dataclasses import dataclass
from pathlib import Path

from deploy.local_process import run_captured
from deploy.localkafka_base import LocalKafkaError

SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
AUTHORIZER = "org.apache.kafka.metadata.authorizer.StandardAuthorizer"
TLS_CERT = "broker-cert.pem"     # self-signed, SAN IP:127.0.0.1 + DNS:localhost; clients trust it
TLS_KEYSTORE = "broker-keystore.pem"  # private key (PKCS#8) + certificate, Kafka's PEM keystore


@dataclass
class Security:
    """Secure mode of a local cluster: SCRAM users, the authorizer, optional TLS."""

    users: dict[str, str]
    acls: bool = True
    tls: bool = False
    admin_user: str = "admin"
    mechanism: str = "SCRAM-SHA-256"  # what the brokers and the probe use between themselves
    cafile: str | None = None         # set once the certificate exists (tls=True)

    def __post_init__(self) -> None:
        if self.admin_user not in self.users:
            raise ValueError(f"sasl_users must include the super user {self.admin_user!r}")
        for name, password in self.users.items():
            if not name or any(c in name for c in ",=[]\"") or not password or any(c in password for c in ",[]\""):
                raise ValueError(f"SCRAM user {name!r}: names and passwords must be non-empty and "
                                 "free of , = [ ] and quotes")

    @property
    def protocol(self) -> str:
        return "SASL_SSL" if self.tls else "SASL_PLAINTEXT"

    @property
    def admin_password(self) -> str:
        return self.users[self.admin_user]

    def tls_context(self) -> ssl.SSLContext | None:
        if not self.tls:
            return None
        return ssl.create_default_context(cafile=self.cafile)

    def client_settings(self, user: str | None = None, mechanism: str = "SCRAM-SHA-256") -> dict[str, str]:
        """The KAFKA_* environment (shared/settings.KafkaSettings) of a client signing in as `user`."""
        user = user or self.admin_user
        env = {"KAFKA_SECURITY_PROTOCOL": self.protocol, "KAFKA_SASL_MECHANISM": mechanism,
               "KAFKA_SASL_USERNAME": user, "KAFKA_SASL_PASSWORD": self.users[user]}
        if self.tls and self.cafile:
            env["KAFKA_SSL_CAFILE"] = self.cafile
        return env

    def to_state(self) -> dict:
        return {"users": self.users, "acls": self.acls, "tls": self.tls, "admin_user": self.admin_user,
                "mechanism": self.mechanism, "cafile": self.cafile}

    @classmethod
    def from_state(cls, state: dict | None) -> "Security | None":
        return cls(**state) if state else None


def make_certificate(base: Path) -> Path:
    """A self-signed broker certificate (once per data dir) with the `openssl` binary."""
    cert, keystore = base / TLS_CERT, base / TLS_KEYSTORE
    if cert.is_file() and keystore.is_file():
        return cert
    openssl = shutil.which("openssl")
    if openssl is None:
        raise LocalKafkaError("tls=True needs the openssl binary on PATH")
    key = base / "broker-key.pem"
    cmd = [openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "365",
           "-subj", "/CN=localkafka", "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost",
           "-keyout", str(key), "-out", str(cert)]
    done = run_captured(cmd)
    if done.returncode != 0:
        raise LocalKafkaError(f"openssl failed:\n{done.stdout[-2000:]}")
    # Kafka's PEM keystore wants the PKCS#8 key and the certificate chain in one file.
    pkcs8 = subprocess.run([openssl, "pkcs8", "-topk8", "-nocrypt", "-in", str(key)],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, check=True).stdout
    keystore.write_text(pkcs8 + cert.read_text())
    os.chmod(keystore, 0o600)
    key.unlink()
    return cert
