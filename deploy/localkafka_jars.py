"""The local broker's runtime: Apache Kafka's jars fetched from Maven once, and a java to run them.

There is no Kafka distribution to download and unpack: Maven resolves the broker and its
dependencies from deploy/kafka/pom.xml into var/kafka-libs/<version>/, which is the whole
classpath of `java kafka.Kafka`.
"""

from __future__ import annotations

import os
import shutil
import sys
import time
from pathlib import Path

from deploy.local_process import run_captured
from deploy.localkafka_base import KAFKA_VERSION, REPO_ROOT, LocalKafkaError

POM = REPO_ROOT / "deploy" / "kafka" / "pom.xml"
LIBS_ROOT = REPO_ROOT / "var" / "kafka-libs"
JARS_MARKER = ".complete"


def ensure_jars() -> Path:
    """Return the directory holding the broker's runtime jars, fetching them once."""
    libs = LIBS_ROOT / KAFKA_VERSION
    if _jars_complete(libs):
        print(f"localkafka: using Kafka {KAFKA_VERSION} jars in {libs}", file=sys.stderr)
        return libs
    mvn = shutil.which("mvn")
    if mvn is None:
        raise LocalKafkaError("mvn not found on PATH: Maven is needed to fetch the Kafka jars")
    # Download into a private dir and rename at the end, so an interrupted or
    # concurrent fetch never leaves a half-filled classpath behind.
    tmp = libs.with_name(f"{libs.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"localkafka: fetching Kafka {KAFKA_VERSION} jars with Maven into {libs} ...",
          file=sys.stderr)
    started = time.monotonic()
    cmd = [mvn, "-B", "-q", "-f", str(POM), "dependency:copy-dependencies",
           f"-Dkafka.version={KAFKA_VERSION}", f"-DoutputDirectory={tmp}"]
    done = run_captured(cmd)
    if done.returncode != 0:
        shutil.rmtree(tmp, ignore_errors=True)
        raise LocalKafkaError(f"mvn failed ({done.returncode}):\n{done.stdout[-4000:]}")
    jars = sorted(p.name for p in tmp.glob("*.jar"))
    (tmp / JARS_MARKER).write_text("\n".join(jars) + "\n")
    _install_dir(tmp, libs)
    print(f"localkafka: fetched {len(jars)} jars in {time.monotonic() - started:.1f}s",
          file=sys.stderr)
    return libs


def _jars_complete(libs: Path) -> bool:
    marker = libs / JARS_MARKER
    if not marker.is_file():
        return False
    names = marker.read_text().split()
    return bool(names) and all((libs / n).is_file() for n in names)


def _install_dir(tmp: Path, final: Path) -> None:
    final.parent.mkdir(parents=True, exist_ok=True)
    if final.exists():
        # Incomplete leftover, or another process just won the race.
        if _jars_complete(final):
            shutil.rmtree(tmp, ignore_errors=True)
            return
        shutil.rmtree(final)
    try:
        os.rename(tmp, final)
    except OSError:
        if not _jars_complete(final):
            raise
        shutil.rmtree(tmp, ignore_errors=True)


def find_java() -> str:
    """$JAVA_HOME/bin/java, else the java on PATH."""
    home = os.environ.get("JAVA_HOME")
    java = Path(home, "bin", "java") if home else None
    if java is not None and java.is_file():
        return str(java)
    found = shutil.which("java")
    if found is None:
        raise LocalKafkaError("java not found (set JAVA_HOME or put java on PATH); Kafka 4 needs Java 17+")
    return found
