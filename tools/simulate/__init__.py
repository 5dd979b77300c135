"""`make demo`: a promotion day driven through the running platform with an accelerated clock.

    python -m tools.simulate [--orders 3000] [--hours 72] [--seed 1] ...   (--help lists every knob)

It starts its own platform: a local Kafka broker (or KAFKA_BOOTSTRAP_SERVERS when set), a fresh
topic prefix, and the four services as processes with settable clocks. Then it plays the
outside actors while the services do the real work:

- the platform publishes order.placed (and a few order.cancellation_requested) to platform.orders;
- suppliers answer replenishment.requested on inventory.stock with supplier.delivery after
  their lead time;
- warehouse staff pick in waves, pack and hand over through logistics' HTTP API at the pace
  their number and picks per hour allow;
- carriers confirm deliveries with carrier.delivery events, some late or damaged
  (POST /shipments/{id}/exception);
- customers ask for returns and support agents approve, receive, inspect and refund them, and
  settle the shipment-exception cases, through aftersales' HTTP API.

Simulated time moves in ticks (default 30 minutes): every service's clock is set with
PUT /clock, the tick's orders and due events are published, the simulator waits until the
services have digested them, then staff do a tick's worth of work. Idle stretches after the
event are skipped. At the end it prints a report and writes var/demo/<run>/report.md,
report.json and PNG charts. Every loop is bounded in count and wall time.

The code, by concern: `cli` (options, one run or a grid), `engine` (the loop of simulated time),
`platform` (broker, services, clocks, the waits), `watcher` (what the topics say), `actors`
(suppliers, staff, carriers, customers, agents), `model` (the scenario, no I/O), `inputs` (the
user's catalogue, plan and carrier files), `report`/`markdown`/`charts` (one run's report),
`grid`, `recommend` and `grid_report` (the what-if grid).
"""
