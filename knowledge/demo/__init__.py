"""The demo world: a deterministic simulated fleet with scripted incidents.

Vigil's demo, tests and benchmarks read it as if it were Prometheus + Elasticsearch + Jaeger::

    world = DemoWorld(seed=42)
    world.query_range("cpu_usage", world.now() - timedelta(hours=1), world.now())
    world.logs(...), world.traces(...), world.incidents()
"""

from knowledge.demo.incidents import INCIDENT_TYPES, Incident
from knowledge.demo.topology import ServiceSpec
from knowledge.demo.world import DemoWorld, SimClock

__all__ = ["INCIDENT_TYPES", "DemoWorld", "Incident", "ServiceSpec", "SimClock"]
