"""The rule packs of the risk gate, one module per domain (see ``risk/catalog.py``)."""
