"""What the server's public address tells about who can reach it."""
import ipaddress
from urllib.parse import urlsplit


def is_local_address(url: str | None) -> bool:
    """Whether a provider on the internet cannot reach this address: loopback, a private range,
    a link-local one, localhost or a .local/.localhost name."""
    host = (urlsplit(url or "").hostname or "").rstrip(".").lower()
    if not host or host == "localhost" or host.endswith((".localhost", ".local", ".lan", ".home.arpa")):
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return "." not in host  # a bare machine name, e.g. http://raspberrypi:8000
    return address.is_private or address.is_loopback or address.is_link_local or address.is_unspecified
