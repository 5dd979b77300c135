#!/usr/bin/env bash
# Entry point of the Kafka brokers in docker-compose.yml: the apache/kafka image's own
# configure + launch steps, plus the SCRAM users written into the cluster metadata when the
# storage is first formatted. KRaft offers no other way to create the first credential: the
# brokers authenticate to each other as the admin before any client could add one.
#
# PEAK_SCRAM_USERS: "name=password name=password ..." (from docker-compose.yml, i.e. from the
# KAFKA_*_PASSWORD variables of the host or an .env file). Not KAFKA_-prefixed on purpose: the
# image turns every KAFKA_* variable into a broker property.
#
# TLS: every listener is SASL_SSL. The keystore and the CA come from the `kafka-certs` one-shot
# (deploy/compose_certs.py) through read-only volumes; KAFKA_SSL_KEYSTORE_LOCATION and
# KAFKA_SSL_TRUSTSTORE_LOCATION (docker-compose.yml) say where they are mounted.
set -euo pipefail

# Fail with a clear message rather than a Java stack trace when the volumes are not filled in
# (e.g. a broker started on its own with `docker compose up --no-deps kafka-1`).
for file in "${KAFKA_SSL_KEYSTORE_LOCATION}" "${KAFKA_SSL_TRUSTSTORE_LOCATION}"; do
  if [[ ! -r "${file}" ]]; then
    echo "compose-broker: ${file} is missing; run the kafka-certs service first (docker compose up kafka-certs)" >&2
    exit 1
  fi
done

. /etc/kafka/docker/bash-config
/etc/kafka/docker/configure   # KAFKA_* environment -> /opt/kafka/config/server.properties

if [[ ! -f "${KAFKA_LOG_DIRS}/meta.properties" ]]; then
  args=()
  for pair in ${PEAK_SCRAM_USERS}; do
    for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do
      args+=(--add-scram "${mechanism}=[name=${pair%%=*},password=${pair#*=}]")
    done
  done
  /opt/kafka/bin/kafka-storage.sh format --cluster-id "${CLUSTER_ID}" \
    -c /opt/kafka/config/server.properties "${args[@]}"
fi

# Client settings of the admin inside the container, for the health check and for operators:
#   kafka-topics.sh --bootstrap-server localhost:19092 --command-config /tmp/admin-client.properties --list
umask 077
# TLS as every other client: the CA from the volume, and the host name (localhost, kafka-1..3)
# checked against the certificate.
cat > /tmp/admin-client.properties <<PROPS
security.protocol=SASL_SSL
ssl.truststore.type=PEM
ssl.truststore.location=${KAFKA_SSL_TRUSTSTORE_LOCATION}
sasl.mechanism=SCRAM-SHA-256
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${PEAK_KAFKA_ADMIN_PASSWORD}";
PROPS

exec /etc/kafka/docker/launch  # formats only when not formatted yet, then starts the broker
