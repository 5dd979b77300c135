"""Tables of the logistics service."""

TABLES: list = []
