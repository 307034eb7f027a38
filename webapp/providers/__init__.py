"""The registry of provider adapters, keyed by a short name stored on each phone."""
from .base import Provider
from .simulator import SimulatedProvider

PROVIDERS: dict[str, type[Provider]] = {
    cls.key: cls for cls in (SimulatedProvider,)
}


def provider_class(key: str) -> type[Provider]:
    return PROVIDERS[key]
