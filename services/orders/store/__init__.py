"""Every SQL statement of the orders service, behind named functions: `orders.py` the orders,
their timelines, intake and lifecycle (its public names are this package's); a feature with
tables of its own keeps them in a module of its own here, imported by name (e.g.
`from services.orders.store import promotions`)."""

from services.orders.store.orders import *  # noqa: F401,F403 (the orders module's public names)
