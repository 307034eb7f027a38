""""Check my address": SMS Desk calls its own callback path through the public address and says
what each step found, in words. It proves this server reaches itself there, not that a provider can."""
import hashlib
import hmac
import http.client
import secrets
import socket
import ssl
import time
from concurrent.futures import ThreadPoolExecutor, TimeoutError as FutureTimeout
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import urlsplit

from flask import current_app
from flask_babel import format_datetime, gettext as _

from . import public_address

TOTAL_SECONDS = 5.0
CHECK_PATH = "/callbacks/check/"


@dataclass
class Step:
    ok: bool | None  # None: neither a success nor a failure, a caveat
    text: str


def challenge_answer(nonce: str) -> str:
    """What this install answers to a nonce: only a server holding its SECRET_KEY can."""
    key = hmac.new(current_app.config["SECRET_KEY"].encode(), b"public-address-check", hashlib.sha256).digest()
    return hmac.new(key, nonce.encode(), hashlib.sha256).hexdigest()


def check(base_url: str | None = None) -> list[Step]:
    base_url = base_url or public_address.current_public_base_url()
    deadline = time.monotonic() + TOTAL_SECONDS
    parts = urlsplit(base_url)
    host, https = parts.hostname, parts.scheme == "https"
    port = parts.port or (443 if https else 80)
    steps = []
    addresses = resolve(host, port, deadline)
    if isinstance(addresses, Step):
        return [addresses, cannot_prove()]
    steps.append(Step(True, _("The name %(name)s points to %(addresses)s.", name=host, addresses=", ".join(addresses))
                      if addresses != [host] else _("%(address)s is an IP address: there is no name to look up.",
                                                    address=host)))
    nonce = secrets.token_urlsafe(24)
    connection = (http.client.HTTPSConnection(host, port, timeout=remaining(deadline),
                                              context=ssl.create_default_context())
                  if https else http.client.HTTPConnection(host, port, timeout=remaining(deadline)))
    try:
        try:
            connection.connect()
        except ssl.SSLCertVerificationError as error:
            steps.append(Step(False, _("The HTTPS certificate was refused: %(reason)s.",
                                       reason=error.verify_message or error.reason)))
            return steps + [cannot_prove()]
        except ssl.SSLError as error:
            steps.append(Step(False, _("The HTTPS connection failed: %(reason)s.", reason=error.reason or error)))
            return steps + [cannot_prove()]
        except OSError as error:
            steps.append(Step(False, connection_problem(error, host, port)))
            return steps + [cannot_prove()]
        if https:
            steps.append(Step(True, _("HTTPS certificate valid until %(date)s.",
                                      date=format_datetime(certificate_end(connection.sock)))))
        else:
            steps.append(Step(False, _("The address is http://, not https://: most providers require HTTPS, "
                                       "and the traffic is not encrypted.")))
        steps.append(call_check_endpoint(connection, parts.path.rstrip("/") + CHECK_PATH + nonce, nonce, deadline))
    finally:
        connection.close()
    return steps + [cannot_prove()]


def remaining(deadline: float) -> float:
    return max(deadline - time.monotonic(), 0.1)


def resolve(host: str, port: int, deadline: float) -> list[str] | Step:
    executor = ThreadPoolExecutor(max_workers=1)
    future = executor.submit(socket.getaddrinfo, host, port, type=socket.SOCK_STREAM)
    executor.shutdown(wait=False)  # a lookup that hangs is left behind, not waited for
    try:
        found = future.result(timeout=remaining(deadline))
    except FutureTimeout:
        return Step(False, _("Looking up the name %(name)s took too long.", name=host))
    except socket.gaierror:
        return Step(False, _("The name %(name)s points to no address: check its DNS record.", name=host))
    return list(dict.fromkeys(info[4][0] for info in found))


def certificate_end(sock) -> datetime:
    not_after = sock.getpeercert()["notAfter"]
    return datetime.fromtimestamp(ssl.cert_time_to_seconds(not_after), timezone.utc)


def connection_problem(error: OSError, host: str, port: int) -> str:
    if isinstance(error, ConnectionRefusedError):
        return _("%(host)s refused the connection on port %(port)s: nothing listens there, or a firewall "
                 "refuses it.", host=host, port=port)
    if isinstance(error, (TimeoutError, socket.timeout)):
        return _("%(host)s did not answer on port %(port)s in time: a firewall may drop the connection.",
                 host=host, port=port)
    return _("Could not connect to %(host)s on port %(port)s: %(reason)s.", host=host, port=port,
             reason=error.strerror or error)


def call_check_endpoint(connection, path: str, nonce: str, deadline: float) -> Step:
    try:
        connection.sock.settimeout(remaining(deadline))
        connection.request("GET", path, headers={"User-Agent": "SMS Desk address check"})
        response = connection.getresponse()
        body = response.read(200).decode("ascii", "replace").strip()
    except (OSError, http.client.HTTPException) as error:
        return Step(False, _("The server accepted the connection but gave no HTTP answer: %(reason)s.",
                             reason=error))
    if response.status == 200 and hmac.compare_digest(body, challenge_answer(nonce)):
        return Step(True, _("Reached SMS Desk's callback endpoint: it answered the challenge, so this is "
                            "this install."))
    if 300 <= response.status < 400:
        return Step(False, _("Reached a server, but it answered with a redirect (HTTP %(status)s) to %(location)s: "
                             "providers do not follow redirects.", status=response.status,
                             location=response.getheader("Location", "?")))
    return Step(False, _("Reached a server (HTTP %(status)s), but not SMS Desk: check that the web server "
                         "forwards /callbacks/ to SMS Desk unchanged.", status=response.status))


def cannot_prove() -> Step:
    return Step(None, _("This shows what SMS Desk finds from this server. It cannot prove that a provider can "
                        "reach the address: a firewall or the provider's own network may still stand in the way."))
