"""Tables of the aftersales service."""

TABLES: list = []
