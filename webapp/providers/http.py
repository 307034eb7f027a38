"""HTTP for adapters: a deadline on every call and requests' errors turned into ProviderError.

A reason never carries the exception's own text (it names hosts, URLs with account ids, and
Python's classes): it says what happened in a sentence, and the raw text goes in the payload.
"""
import threading
import time
from urllib.parse import urlsplit

import requests
import urllib3

from ..reasons import Reason as _
from .base import ProviderError


class ProviderHttp:
    """Every call has an overall deadline, connect_timeout + read_timeout from its start: the
    longest a send may take, which the sweep counts on before judging a send interrupted.
    requests' read timeout alone bounds each socket read, so a provider sending its answer a few
    bytes at a time held a sender for as long as it liked. Here the connection and the wait for
    the answer's headers get what is left of the deadline (urllib3's total timeout), and the body
    is read in a loop that gives each read only what is left, and stops at the deadline.
    """
    BODY_CHUNK = 16384

    def __init__(self, connect_timeout: float = 5.0, read_timeout: float = 30.0):
        self.timeout = (connect_timeout, read_timeout)
        self.deadline_seconds = connect_timeout + read_timeout
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        # requests.Session is not thread-safe: one per worker thread, each keeping its connections
        if not hasattr(self._local, "session"):
            self._local.session = EnvironmentReadOnceSession()
        return self._local.session

    def request(self, method: str, url: str, idempotent: bool | None = None, company=_("the provider"),
                **kwargs) -> requests.Response:
        """idempotent: repeating the call cannot do the thing twice (GET, or a provider that
        refuses a repeated reference). Decides whether a 5xx answer may be retried. company: the
        provider's name, for the reasons."""
        deadline = time.monotonic() + self.deadline_seconds
        connect, read = kwargs.pop("timeout", self.timeout)
        timeout = urllib3.Timeout(connect=connect, read=read, total=self.deadline_seconds)
        try:
            response = self.session.request(method, url, timeout=timeout, stream=True, **kwargs)
            read_body_before(response, deadline)
        except requests.ConnectTimeout as error:
            raise ProviderError(unreachable(company, error), transient=True, payload=raw(error)) from None
        except requests.ReadTimeout as error:
            raise ProviderError(_("%(company)s did not answer in time", company=company), answer_lost=True,
                                payload=raw(error)) from None
        except requests.ConnectionError as error:
            if _request_never_left(error):
                raise ProviderError(unreachable(company, error), transient=True, payload=raw(error)) from None
            raise ProviderError(_("the connection to %(company)s broke before it answered", company=company),
                                answer_lost=True, payload=raw(error)) from None
        except requests.RequestException as error:
            raise ProviderError(_("the address SMS Desk has for %(company)s is not usable", company=company),
                                payload=raw(error)) from None
        if response.status_code in (429, 503):  # refused before doing anything
            raise ProviderError(_("%(company)s is unavailable (HTTP %(status)d)", company=company,
                                  status=response.status_code),
                                code=str(response.status_code), transient=True, payload=response.text[:2000])
        if response.status_code >= 500:
            # a 500, 502 or 504 may come after the provider did the work: retry only what cannot repeat
            if idempotent is None:
                idempotent = method.upper() in ("GET", "HEAD", "PUT", "DELETE")
            raise ProviderError(_("%(company)s failed (HTTP %(status)d)", company=company,
                                  status=response.status_code),
                                code=str(response.status_code), transient=idempotent, answer_lost=not idempotent,
                                payload=response.text[:2000])
        return response


class EnvironmentReadOnceSession(requests.Session):
    """Reads the proxy and certificate settings of the environment once per host, where requests
    reads them at every call (two walks through the whole of os.environ, much of a poll's CPU):
    the server's environment does not change while it runs."""

    def __init__(self):
        super().__init__()
        self._environment_settings = {}

    def merge_environment_settings(self, url, proxies, stream, verify, cert):
        if proxies:  # a call's own proxies: merged as requests does
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert)
        if key not in self._environment_settings:
            self._environment_settings[key] = super().merge_environment_settings(url, proxies, stream, verify, cert)
        settings = self._environment_settings[key]
        return dict(settings, proxies=dict(settings["proxies"]))


def read_body_before(response: requests.Response, deadline: float) -> None:
    """Reads the whole body into the response, or raises ReadTimeout once the deadline passes."""
    body = response.raw
    sock = getattr(body.connection, "sock", None)
    chunks = []
    try:
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise requests.ReadTimeout("the answer was not complete before the deadline")
            if sock is not None and not body.closed:
                sock.settimeout(left)
            # read1: one read of the socket at most, where read() would wait for all it asks for
            chunk = body.read1(ProviderHttp.BODY_CHUNK, decode_content=True)
            if chunk:
                chunks.append(chunk)
            elif body.closed:  # an empty chunk before: compressed bytes that gave nothing yet
                break
    except urllib3.exceptions.ReadTimeoutError as error:
        response.close()
        raise requests.ReadTimeout(error) from None
    except requests.ReadTimeout:
        response.close()  # half read: the connection cannot serve another call
        raise
    except (urllib3.exceptions.ProtocolError, OSError) as error:
        response.close()
        raise requests.ConnectionError(error) from None
    response._content = b"".join(chunks)  # what requests' own reading of the body sets


def _request_never_left(error: requests.ConnectionError) -> bool:
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))


def raw(error: Exception) -> dict:
    return {"error": type(error).__name__, "detail": str(error)[:2000]}


NETWORK_FAULTS = (  # (words in the exception's text, what the user reads)
    (("name or service not known", "nameresolution", "temporary failure in name resolution", "nodename nor servname",
      "getaddrinfo failed"), _("the name lookup failed")),
    (("connection refused",), _("the connection was refused")),
    (("timed out", "timeout"), _("the connection timed out")),
    (("certificate", "ssl"), _("the secure connection failed")),
    (("network is unreachable", "no route to host"), _("the network is unreachable")),
)


def unreachable(company: str, error: Exception) -> _:
    """SMS Desk could not reach the provider, and why, in a sentence."""
    text = f"{type(error).__name__} {error}".lower()
    why = next((sentence for words, sentence in NETWORK_FAULTS if any(word in text for word in words)),
               _("a network error"))
    return _("SMS Desk cannot reach %(company)s from this server (%(why)s)", company=company, why=why)
