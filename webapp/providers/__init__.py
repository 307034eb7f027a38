"""The registry of provider adapters, keyed by a short name stored on each phone."""
from .base import Provider
from .netoxygen import NetOxygenProvider
from .octopush import OctopushProvider
from .odyssey import OdysseyProvider
from .ovh import OvhProvider
from .simulator import SimulatedProvider
from .twilio import TwilioProvider

PROVIDERS: dict[str, type[Provider]] = {
    cls.key: cls for cls in (SimulatedProvider, TwilioProvider, OvhProvider, OctopushProvider, OdysseyProvider,
                              NetOxygenProvider)
}


def provider_class(key: str) -> type[Provider]:
    return PROVIDERS[key]
