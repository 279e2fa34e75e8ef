"""Load on Locust: the kit's user classes (``locustfile.py``, loaded only by Locust's own process), each
worker's share of a scenario (``workload.py``) and the summary against the national targets (``summary.py``)."""
