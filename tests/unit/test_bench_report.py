"""The benchmark's own arithmetic: whether a steady phase kept up, how the summary says so, and
the verdict on lost, unqueued, duplicated and oversold orders."""

from tools.bench import hop_split, kept_up, phase_checks, summary, verdict


def _report(steady: dict) -> dict:
    return {"burst": {"orders": 10, "end_to_end_orders_per_s": 5, "all_queued_s": 2.0},
            "ceiling": {"round_trip_msgs_per_s": 100},
            "verdict": {"lost": 0, "not_queued": 0, "duplicated_events": 0, "oversold_skus": []},
            "steady": steady}


def test_a_phase_whose_orders_are_reserved_as_they_come_kept_up() -> None:
    sent = {f"S{i}": 100.0 + i / 100 for i in range(1000)}  # 100/s for 10 s
    reserved = {order: at + 0.05 for order, at in sent.items()}
    reading = kept_up(sent, reserved, rate=100)
    assert reading["kept_up"] is True
    assert 99 <= reading["handled_per_s"] <= 100
    assert reading["drained_s_after_last_send"] == 0.05


def test_a_phase_that_leaves_a_queue_did_not_keep_up() -> None:
    sent = {f"S{i}": 100.0 + i / 100 for i in range(1000)}  # offered 100/s for 10 s
    reserved = {f"S{i}": 100.0 + i / 60 for i in range(1000)}  # handled 60/s
    reading = kept_up(sent, reserved, rate=100)
    assert reading["kept_up"] is False
    assert reading["handled_per_s"] == 60
    assert reading["drained_s_after_last_send"] > 6


def test_nothing_reserved_is_not_keeping_up() -> None:
    assert kept_up({"S1": 1.0}, {}, rate=100)["kept_up"] is False


def test_the_summary_says_when_the_latency_is_a_queue() -> None:
    behind = _report({"rate_per_s": 1000, "kept_up": False, "handled_per_s": 772,
                      "to_stock_reserved_ms": {"p99": 54616.6}})
    assert "steady 1000/s not kept up (handled 772/s), p50/p99 paid->reserved None/54616.6 ms" in summary(behind)
    on_pace = _report({"rate_per_s": 1000, "kept_up": True, "handled_per_s": 998,
                       "to_stock_reserved_ms": {"p50": 80.0, "p99": 219.0}})
    assert "steady 1000/s p50/p99 paid->reserved 80.0/219.0 ms;" in summary(on_pace)


def test_the_hop_split_attributes_each_order_s_time_to_the_hop_that_took_it() -> None:
    sent = {f"S{i}": 100.0 + i for i in range(100)}
    accepted = {o: t + 0.040 for o, t in sent.items()}  # orders: 40 ms
    reserved = {o: t + 0.100 for o, t in accepted.items()}  # inventory: 100 ms
    seen = {o: t + 0.005 for o, t in reserved.items()}
    hops = hop_split(sent, accepted, reserved, seen)
    assert hops["paid_to_accepted_handed_over (orders)"]["p99"] == 40.0
    assert hops["accepted_to_reserved_handed_over (inventory)"]["p50"] == 100.0
    assert hops["reserved_handed_over_to_seen (broker and watcher)"]["max"] == 5.0


def test_the_hop_split_leaves_out_orders_missing_a_stage() -> None:
    hops = hop_split({"S1": 1.0, "S2": 1.0}, {"S1": 1.01, "S2": 1.02}, {"S1": 1.05}, {"S1": 1.06})
    assert hops["paid_to_accepted_handed_over (orders)"]["max"] == 10.0  # S2 never reserved: not counted


NO_DUPLICATES = {"accepted": 0, "rejected": 0, "reserved": 0, "backordered": 0}


def _checked_run(burst: dict, steady: dict | None = None, oversold: list[str] | None = None) -> dict:
    report = {"burst": {"checks": phase_checks(**burst)}, "stock": {"oversold_skus": oversold or []}}
    if steady is not None:
        report["steady"] = {"checks": phase_checks(**steady)}
    return report


def _phase(sent: int = 100, reserved: int = 90, backordered: int = 10, queued: int = 90,
           duplicates: dict | None = None) -> dict:
    return {"sent": sent, "reserved": reserved, "backordered": backordered, "queued": queued,
            "duplicates": duplicates or NO_DUPLICATES}


def test_a_run_where_every_order_got_an_outcome_once_and_reserved_ones_were_queued_is_ok() -> None:
    reading = verdict(_checked_run(_phase(), _phase(sent=60, reserved=60, backordered=0, queued=60)))
    assert reading == {"lost": 0, "unfinished": 0, "not_queued": 0, "duplicated_events": 0, "oversold_skus": [],
                       "ok": True}


def test_a_phase_out_of_time_counts_its_missing_orders_as_unfinished_not_lost_and_fails_the_run() -> None:
    checks = phase_checks(sent=100, reserved=80, backordered=5, queued=80, duplicates=NO_DUPLICATES, completed=False)
    assert (checks["lost"], checks["unfinished"]) == (0, 15)
    reading = verdict({"burst": {"checks": checks}, "stock": {"oversold_skus": []}})
    assert reading["unfinished"] == 15 and reading["lost"] == 0 and reading["ok"] is False
    finished = phase_checks(sent=100, reserved=80, backordered=5, queued=80, duplicates=NO_DUPLICATES)
    assert (finished["lost"], finished["unfinished"]) == (15, 0)


def test_an_order_lost_in_the_steady_phase_fails_the_run_even_when_the_burst_was_clean() -> None:
    reading = verdict(_checked_run(_phase(), _phase(sent=60, reserved=59, backordered=0, queued=59)))
    assert reading["lost"] == 1 and reading["ok"] is False


def test_a_reserved_order_missing_from_the_dispatch_queue_fails_the_run() -> None:
    reading = verdict(_checked_run(_phase(queued=89)))
    assert reading["not_queued"] == 1 and reading["ok"] is False


def test_an_outcome_seen_twice_in_either_phase_fails_the_run() -> None:
    doubled = {**NO_DUPLICATES, "reserved": 1}
    assert verdict(_checked_run(_phase(duplicates=doubled)))["ok"] is False
    steady_doubled = verdict(_checked_run(_phase(), _phase(duplicates=doubled)))
    assert steady_doubled["duplicated_events"] == 1 and steady_doubled["ok"] is False


def test_an_oversold_sku_fails_the_run() -> None:
    reading = verdict(_checked_run(_phase(), oversold=["SKU-B001"]))
    assert reading["oversold_skus"] == ["SKU-B001"] and reading["ok"] is False


def test_the_summary_names_every_check() -> None:
    report = _report({"rate_per_s": 100, "kept_up": True, "to_stock_reserved_ms": {"p99": 80.0}})
    report["verdict"] = {"lost": 2, "not_queued": 1, "duplicated_events": 3, "oversold_skus": ["A"]}
    assert summary(report).endswith("lost 2, not queued 1, duplicated 3, oversold 1")
