"""The time zones a user chooses from: one per city of tzdata's zone.tab, grouped by country, in
the reader's language (the country's name and the city's from Babel's CLDR data), rather than
the 600 raw names zoneinfo knows (aliases, "Factory", "localtime", Etc/GMT+3...)."""
import functools
from importlib import resources
from zoneinfo import available_timezones

from babel import Locale
from babel.dates import get_timezone_location

from .folding import folded

UTC = "UTC"


@functools.cache
def zones_by_country() -> dict[str, tuple[str, ...]]:
    """{ISO country code: its zones}, from zone.tab: every country, each zone under one."""
    table = resources.files("tzdata").joinpath("zoneinfo", "zone.tab").read_text(encoding="utf-8")
    found = {}
    for line in table.splitlines():
        if line and not line.startswith("#"):
            code, _coordinates, zone = line.split("\t")[:3]
            found.setdefault(code, []).append(zone)
    known = available_timezones()
    return {code: tuple(zone for zone in zones if zone in known) for code, zones in found.items()}


def city_of(zone: str, locale: str) -> str:
    try:
        return get_timezone_location(zone, locale=locale, return_city=True)
    except (LookupError, ValueError):
        return zone.rsplit("/", 1)[-1].replace("_", " ")


@functools.cache
def zone_choices(locale: str) -> tuple[tuple[str, tuple[tuple[str, str], ...]], ...]:
    """((country name, ((zone, city), ...)), ...), countries and cities in alphabetical order
    of the reader's language; UTC first, on its own."""
    countries = Locale.parse(locale).territories
    groups = []
    for code, zones in zones_by_country().items():
        cities = sorted(((zone, city_of(zone, locale)) for zone in zones), key=lambda choice: folded(choice[1]))
        groups.append((countries.get(code, code), tuple(cities)))
    groups.sort(key=lambda group: folded(group[0]))
    return ((UTC, ((UTC, UTC),)),) + tuple(groups)


def zone_label(zone: str, locale: str) -> str:
    """"Zurich (Switzerland)" for a zone of the list; the zone's own name for any other."""
    for country, cities in zone_choices(locale):
        for value, city in cities:
            if value == zone:
                return city if country == UTC else f"{city} ({country})"
    return zone
