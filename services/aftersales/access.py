"""Who may call which aftersales route (R28): support agents run returns and refunds; admins
may read the case figures. Unlisted routes are admin-only."""

SUPPORT = frozenset({"support"})
SUPPORT_AND_ADMIN = frozenset({"support", "admin"})

ACCESS = {
    ("POST", "/returns"): SUPPORT,
    ("GET", "/cases"): SUPPORT_AND_ADMIN,
    ("GET", "/cases/sla"): SUPPORT_AND_ADMIN,
    ("GET", "/cases/{case_id}"): SUPPORT_AND_ADMIN,
    ("GET", "/orders/{order_id}/returnable"): SUPPORT,
    **{("POST", f"/cases/{{case_id}}/{step}"): SUPPORT
       for step in ("approve", "receive", "inspect", "refund", "exchange", "reject", "dispute")},
    # Complaints (R27): support answers them, admins read them; the customer-facing platform may
    # open one for a customer and follow it.
    ("POST", "/complaints"): frozenset({"support", "platform"}),
    ("GET", "/complaints"): SUPPORT_AND_ADMIN,
    ("GET", "/complaints/{complaint_id}"): frozenset({"support", "admin", "platform"}),
    ("POST", "/complaints/{complaint_id}/respond"): SUPPORT,
    ("POST", "/complaints/{complaint_id}/resolve"): SUPPORT,
}
