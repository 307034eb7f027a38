"""POSTs to the users' webhook URLs, and nowhere else they should not reach.

A URL's host is resolved, every address it gives is checked (no loopback, private, link-local,
shared, multicast or otherwise reserved address: a user must not make SMS Desk call its own
network, or a cloud's metadata service), and the connection is made to the address checked, not
to the name again (which could resolve elsewhere the second time). WEBHOOK_ALLOW_PRIVATE_ADDRESSES
lifts the check for installs that post to their own network. Redirects are never followed, and
a whole request has a deadline, however slowly the answer comes.
"""
import http.client
import ipaddress
import socket
import ssl
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

from flask import current_app

from .reasons import Reason

ANSWER_KEPT_BYTES = 1024
ANSWER_READ_BYTES = 64 * 1024  # more than this and the connection is closed rather than read to the end


class AddressRefused(Exception):
    def __init__(self, reason: Reason):
        super().__init__(str(reason.msgid))
        self.reason = reason


def checked_url(url: str) -> tuple[str, str, int]:
    """(scheme, host, port) of an http(s) URL without credentials; raises AddressRefused."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        raise AddressRefused(Reason("this is not a valid URL")) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressRefused(Reason("the URL must start with https:// or http:// and name a host"))
    if parts.username or parts.password:
        raise AddressRefused(Reason("the URL must not hold a user name or password"))
    return parts.scheme, parts.hostname, port or (443 if parts.scheme == "https" else 80)


def private_addresses_allowed() -> bool:
    return str(current_app.config.get("WEBHOOK_ALLOW_PRIVATE_ADDRESSES", "")).lower() in ("1", "true", "yes")


def is_public(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not ip.is_multicast


def resolved_addresses(host: str, port: int) -> list[str]:
    """The addresses to connect to, all of them checked; raises AddressRefused."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError):
        raise AddressRefused(Reason("the name %(host)s does not resolve", host=host)) from None
    addresses = list(dict.fromkeys(info[4][0] for info in infos))
    if not private_addresses_allowed():
        refused = [address for address in addresses if not is_public(address)]
        if refused:
            raise AddressRefused(Reason(
                "%(host)s resolves to %(address)s, a local, private or reserved address, which SMS Desk does not "
                "post to", host=host, address=refused[0]))
    return addresses


def check_url(url: str) -> None:
    """Raises AddressRefused for a URL that SMS Desk will not post to (when saved)."""
    _scheme, host, port = checked_url(url)
    resolved_addresses(host, port)


@dataclass
class Answer:
    status: int | None = None  # None: no HTTP answer
    body: bytes = b""  # its first ANSWER_KEPT_BYTES
    duration_ms: int = 0
    error: Reason | None = None  # why there was no answer
    refused: bool = False  # the address was refused (SSRF): nothing was sent


class PinnedConnection(http.client.HTTPConnection):
    """Connects to an address already checked, while speaking to the URL's host."""

    def __init__(self, host, port, address, timeout):
        super().__init__(host, port, timeout=timeout)
        self.address = address

    def connect(self):
        self.sock = socket.create_connection((self.address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class PinnedTlsConnection(PinnedConnection):
    def connect(self):
        super().connect()
        self.sock = ssl.create_default_context().wrap_socket(self.sock, server_hostname=self.host)


class Poster:
    """POSTs to webhook URLs, keeping one connection open per URL's host between requests (an
    endpoint's deliveries go one after the other). Not shared between threads."""

    def __init__(self, timeout_seconds: float):
        self.timeout = timeout_seconds
        self.connections = {}

    def close(self):
        for connection in self.connections.values():
            connection.close()
        self.connections.clear()

    def post(self, url: str, headers: dict, body: bytes) -> Answer:
        started = time.monotonic()
        answer = self._post(url, headers, body, started + self.timeout)
        answer.duration_ms = int((time.monotonic() - started) * 1000)
        return answer

    def _post(self, url, headers, body, deadline) -> Answer:
        try:
            scheme, host, port = checked_url(url)
            key = (scheme, host, port)
            connection = self.connections.get(key)
            if connection is None:
                address = resolved_addresses(host, port)[0]  # checked again at each new connection
                factory = PinnedTlsConnection if scheme == "https" else PinnedConnection
                connection = self.connections[key] = factory(host, port, address, self.timeout)
        except AddressRefused as refusal:
            return Answer(error=refusal.reason, refused=True)
        parts = urlsplit(url.strip())
        path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        for attempt in (1, 2):  # a kept connection the server closed meanwhile is opened again, once
            reused = connection.sock is not None
            try:
                connection.timeout = max(0.01, deadline - time.monotonic())
                if connection.sock is not None:
                    connection.sock.settimeout(connection.timeout)
                connection.request("POST", path, body=body, headers=headers)
                response = connection.getresponse()
                kept = read_answer(response, connection, deadline)
                if response.will_close or not response.isclosed():
                    self._drop(key)
                return Answer(status=response.status, body=kept)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError) as error:
                self._drop(key)
                if reused and attempt == 1:
                    connection = self.connections[key] = type(connection)(host, port, connection.address,
                                                                          self.timeout)
                    continue
                return Answer(error=network_reason(error))
            except (OSError, http.client.HTTPException) as error:
                self._drop(key)
                return Answer(error=network_reason(error))
        return Answer(error=Reason("the connection was closed"))  # not reached

    def _drop(self, key):
        connection = self.connections.pop(key, None)
        if connection is not None:
            connection.close()


def read_answer(response, connection, deadline) -> bytes:
    """The answer's first ANSWER_KEPT_BYTES; the rest read (for the connection to be used again)
    up to ANSWER_READ_BYTES, each read within what is left of the deadline."""
    kept, total = b"", 0
    while total < ANSWER_READ_BYTES:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("the answer took longer than the deadline")
        if connection.sock is not None:
            connection.sock.settimeout(left)
        chunk = response.read1(16 * 1024) if hasattr(response, "read1") else response.read(16 * 1024)
        if not chunk:
            response.read()  # at its end: lets the connection serve the next request
            break
        total += len(chunk)
        if len(kept) < ANSWER_KEPT_BYTES:
            kept += chunk[:ANSWER_KEPT_BYTES - len(kept)]
    return kept


def network_reason(error: Exception) -> Reason:
    if isinstance(error, (TimeoutError, socket.timeout)):
        return Reason("no answer within the time allowed")
    if isinstance(error, ConnectionRefusedError):
        return Reason("the connection was refused")
    if isinstance(error, ssl.SSLError):
        return Reason("the secure connection failed (%(detail)s)", detail=type(error).__name__)
    if isinstance(error, (ConnectionResetError, BrokenPipeError, http.client.RemoteDisconnected)):
        return Reason("the connection was closed before an answer came")
    if isinstance(error, http.client.HTTPException):
        return Reason("the answer was not valid HTTP")
    return Reason("the network failed (%(detail)s)", detail=type(error).__name__)
