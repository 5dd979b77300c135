"""Tables of the inventory service."""

TABLES: list = []
