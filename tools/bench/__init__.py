"""`make bench`: a measurement, not a test. Prints JSON and summary lines, and writes
docs/benchmarks.md.

For each database (SQLite and PostgreSQL, `--databases`), on fresh topics and databases:
1. Burst: N valid orders published to platform.orders as fast as the client can; timed until
   every order is accepted, reserved or backordered, and (when reserved) in the dispatch queue.
2. Steady: a fixed rate for a fixed time; latency from publication to stock.reserved and to
   the shipment row being created.
3. HTTP load: many concurrent clients on POST /orders, GET /orders/{id}, /sla and /queue while a
   Kafka burst runs (http_load.py).
Then the PostgreSQL burst again with two instances of each service (scale_out.py). Before all of
them, the ceiling: the raw broker round trip (produced, and consumed back as it comes) for the
same message count and size with the services' client library (aiokafka), and its latency at
the steady rate, so the system's figures can be stated as a fraction of it.

Every loop is bounded in count and time. The run checks that no order was lost, duplicated or
oversold, and says so.

Modules: common (orders, catalogue, quantiles, CPU), kafka_io (watcher, producers, ceiling),
phases (burst, steady, checks), http_load and http_phase, scale_out, report (verdict, summary,
docs), run (main).
"""

from tools.bench.common import SKUS, cpu_reference_s, order_event, write_catalog
from tools.bench.kafka_io import publish
from tools.bench.phases import hop_split, kept_up, phase_checks, shipment_count
from tools.bench.report import summary, verdict

__all__ = ["SKUS", "cpu_reference_s", "order_event", "write_catalog", "publish", "hop_split", "kept_up",
           "phase_checks", "shipment_count", "summary", "verdict"]
