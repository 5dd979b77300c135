"""What the orders service does, one function per use case, each in one unit of work
(shared/unit_of_work.py) and reading load -> decide -> save -> publish: loads and saves through
store.py, decisions in domain.py, events through `uow.publish`. Kafka subscriptions
(handlers.py) and HTTP routes (api.py) both call these, so a rule is applied the same way
whichever way a request came in."""

from services.orders.usecases.intake import (Submission, answer_invalid_platform_message, place_order,
                                             submit_order)
from services.orders.usecases.lifecycle import (CancelOrder, CancelResult, apply_lifecycle_event, cancel_order,
                                                request_cancellation)
from services.orders.usecases.reads import conflicts, list_orders, order_view, rejections, stats

__all__ = [
    "CancelOrder", "CancelResult", "Submission", "answer_invalid_platform_message", "apply_lifecycle_event",
    "cancel_order", "conflicts", "list_orders", "order_view", "place_order", "rejections", "request_cancellation",
    "stats", "submit_order",
]
