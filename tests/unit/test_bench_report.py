"""The benchmark's own arithmetic: whether a steady phase kept up, and how the summary says so."""

from tools.bench import hop_split, kept_up, summary


def _report(steady: dict) -> dict:
    return {"burst": {"orders": 10, "end_to_end_orders_per_s": 5, "all_queued_s": 2.0},
            "ceiling": {"round_trip_msgs_per_s": 100},
            "verdict": {"lost": 0, "duplicated_events": 0, "oversold_skus": []},
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
    assert "steady 1000/s not kept up (handled 772/s), p99 paid->reserved 54616.6 ms" in summary(behind)
    on_pace = _report({"rate_per_s": 1000, "kept_up": True, "handled_per_s": 998,
                       "to_stock_reserved_ms": {"p99": 219.0}})
    assert "steady 1000/s p99 paid->reserved 219.0 ms;" in summary(on_pace)


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
