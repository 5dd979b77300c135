"""Who may call which orders route (R3, R28): platform services place and cancel orders; support
may cancel for a customer; everyone signed in may read. Unlisted routes are admin-only."""

READERS = frozenset({"platform", "warehouse", "support", "admin"})

ACCESS = {
    ("POST", "/orders"): frozenset({"platform"}),
    ("POST", "/orders/{order_id}/cancel"): frozenset({"platform", "support"}),
    ("POST", "/orders/{order_id}/balance"): frozenset({"platform", "admin"}),
    ("GET", "/orders/{order_id}"): READERS,
    ("GET", "/orders"): READERS,
    ("GET", "/stats"): READERS,
    ("GET", "/stats/series"): READERS,  # the war room (issue 30): every console role reads it
    ("GET", "/conflicts"): frozenset({"platform", "admin"}),
    ("GET", "/rejections"): frozenset({"platform", "admin"}),
    # Holds (R6): support and admin decide on held orders and orders needing attention.
    ("POST", "/orders/{order_id}/release"): frozenset({"support", "admin"}),
    ("GET", "/holds"): frozenset({"support", "admin"}),
    ("GET", "/abuse-rules"): frozenset({"support", "admin"}),
    ("PUT", "/abuse-rules"): frozenset({"admin"}),
    ("GET", "/promotions"): frozenset({"platform", "support", "admin"}),
    ("PUT", "/promotions"): frozenset({"admin"}),
}
