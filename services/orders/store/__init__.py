"""Every SQL statement of the orders service, behind named functions: `orders.py` the orders,
their timelines, intake and lifecycle; a feature with tables of its own keeps them in a module
of its own here (imported by name, e.g. `from services.orders.store import promotions`)."""

from services.orders.store.orders import (
    LIFECYCLE_STATES,
    LifecycleState,
    accepted_content,
    add_conflict,
    add_order,
    add_refund,
    add_rejection,
    add_step,
    any_parked,
    counts_beside_orders,
    forget_parked,
    intake_state,
    latest_rejection,
    lifecycle_state,
    load_lifecycle_states,
    lock_status,
    order_record,
    page_of_conflicts,
    page_of_orders,
    page_of_rejections,
    park,
    parked_events,
    record_submission,
    refund_facts,
    save_status,
    serialise_per_order,
    timeline,
    totals_by_class_and_state,
)

__all__ = [
    "LIFECYCLE_STATES", "LifecycleState", "accepted_content", "add_conflict", "add_order", "add_refund",
    "add_rejection", "add_step", "any_parked", "counts_beside_orders", "forget_parked", "intake_state",
    "latest_rejection", "lifecycle_state", "load_lifecycle_states", "lock_status", "order_record",
    "page_of_conflicts", "page_of_orders", "page_of_rejections", "park", "parked_events", "record_submission",
    "refund_facts", "save_status", "serialise_per_order", "timeline", "totals_by_class_and_state",
]
