"""Who may call which logistics route (R28): warehouse staff drive dispatch; support and admins
read the SLA, reports and shipments, and support may flag an exception for a customer.
Unlisted routes are admin-only."""

WAREHOUSE = frozenset({"warehouse"})
READERS = frozenset({"warehouse", "support", "admin"})

ACCESS = {
    ("POST", "/waves"): WAREHOUSE,
    ("GET", "/waves/{wave_id}"): READERS,
    ("GET", "/queue"): READERS,
    ("GET", "/shipments/{shipment_id}"): READERS,
    ("GET", "/shipments"): READERS,  # search by order id or tracking number (order 360)
    ("POST", "/shipments/{shipment_id}/pack"): WAREHOUSE,
    ("POST", "/shipments/{shipment_id}/ship"): WAREHOUSE,
    ("POST", "/shipments/ship-batch"): WAREHOUSE,
    ("POST", "/shipments/{shipment_id}/delivered"): WAREHOUSE,
    ("POST", "/shipments/{shipment_id}/exception"): frozenset({"warehouse", "support"}),
    ("GET", "/sla"): READERS,
    ("GET", "/sla/series"): READERS,  # the war room (issue 30)
    ("GET", "/capacity"): READERS,
    ("GET", "/reports"): READERS,
    ("GET", "/carriers"): READERS,
    ("GET", "/dock"): READERS,
    # The event's plan and what it asks of staff and carriers (issue 32): admins load the plan and
    # book carriers; the warehouse reads the forecast to staff shifts.
    ("PUT", "/plan"): frozenset({"admin"}),
    ("GET", "/plan"): READERS,
    ("GET", "/forecast"): frozenset({"admin", "warehouse"}),
    ("POST", "/carrier-bookings/proposals"): frozenset({"admin"}),
    ("POST", "/carrier-bookings/{booking_id}/confirm"): frozenset({"admin"}),
    ("GET", "/carrier-bookings"): READERS,
}
