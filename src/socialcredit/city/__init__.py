"""A synthetic city: residents and the records of its sources, seeded and deterministic.

The demo, the tests and the benchmarks all draw their data from here.
"""

from .catalogue import SOURCES, TYPES
from .generate import City, generate
from .ids import national_id
from .names import DISTRICTS
from .write import write_city

__all__ = ["DISTRICTS", "SOURCES", "TYPES", "City", "generate", "national_id", "write_city"]
