"""City simulator (C10, 数字孪生): a seeded city with normal life, fraud gangs and ground truth."""

from fanzha.sim.city import City, simulate_city
from fanzha.sim.config import SimConfig
from fanzha.sim.summary import summarize

__all__ = ["City", "SimConfig", "simulate_city", "summarize"]
