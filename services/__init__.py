"""The four fulfilment services; each runs alone with `python -m services.<name>`."""
