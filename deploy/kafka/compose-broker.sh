#!/usr/bin/env bash
# Entry point of the Kafka brokers in docker-compose.yml: the apache/kafka image's own
# configure + launch steps, plus the SCRAM users written into the cluster metadata when the
# storage is first formatted. KRaft offers no other way to create the first credential: the
# brokers authenticate to each other as the admin before any client could add one.
#
# PEAK_SCRAM_USERS: "name=password name=password ..." (from docker-compose.yml, i.e. from the
# KAFKA_*_PASSWORD variables of the host or an .env file). Not KAFKA_-prefixed on purpose: the
# image turns every KAFKA_* variable into a broker property.
set -euo pipefail

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
cat > /tmp/admin-client.properties <<PROPS
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-256
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${PEAK_KAFKA_ADMIN_PASSWORD}";
PROPS

exec /etc/kafka/docker/launch  # formats only when not formatted yet, then starts the broker
