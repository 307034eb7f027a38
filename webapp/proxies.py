"""The client's address behind reverse proxies (the TRUSTED_PROXIES setting).

Werkzeug's ProxyFix(x_for=N) believes the Nth address from the right of X-Forwarded-For on every
request, also on one that reached SMS Desk directly, past the proxy: that client writes the header
and picks the address the sign-in limit counts. Here the header is believed only from a listed proxy.
"""
import ipaddress


def trusted_networks(setting) -> list:
    """"127.0.0.1, 10.0.0.0/8" (or a list of such) as networks."""
    entries = setting.replace(",", " ").split() if isinstance(setting, str) else list(setting or [])
    return [ipaddress.ip_network(entry, strict=False) for entry in entries]


class TrustedProxies:
    """WSGI middleware: REMOTE_ADDR becomes the rightmost address of X-Forwarded-For that is not a
    trusted proxy, walking left only while the address in hand is a trusted proxy's."""

    def __init__(self, wsgi_app, networks):
        self.wsgi_app = wsgi_app
        self.networks = networks

    def __call__(self, environ, start_response):
        if self.networks:
            environ["REMOTE_ADDR"] = self.client_address(environ.get("REMOTE_ADDR"),
                                                         environ.get("HTTP_X_FORWARDED_FOR", ""))
        return self.wsgi_app(environ, start_response)

    def client_address(self, peer, forwarded_for):
        hops = [hop.strip() for hop in forwarded_for.split(",") if hop.strip()]
        address = peer
        while hops and self.is_trusted(address):
            candidate = hops.pop()
            if not _is_address(candidate):
                break  # a proxy that passes on garbage: its own address is the best we know
            address = candidate
        return address

    def is_trusted(self, address) -> bool:
        if not _is_address(address):
            return False
        return any(ipaddress.ip_address(address) in network for network in self.networks)


def _is_address(text) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
