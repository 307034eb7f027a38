"""HTTP for adapters: timeouts on every call and requests' errors turned into ProviderError.

A reason never carries the exception's own text (it names hosts, URLs with account ids, and
Python's classes): it says what happened in a sentence, and the raw text goes in the payload.
"""
import threading

import requests
import urllib3

from ..reasons import Reason as _
from .base import ProviderError


class ProviderHttp:
    def __init__(self, connect_timeout: float = 5.0, read_timeout: float = 30.0):
        self.timeout = (connect_timeout, read_timeout)
        self._local = threading.local()

    @property
    def session(self) -> requests.Session:
        # requests.Session is not thread-safe: one per worker thread, each keeping its connections
        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def request(self, method: str, url: str, idempotent: bool | None = None, company=_("the provider"),
                **kwargs) -> requests.Response:
        """idempotent: repeating the call cannot do the thing twice (GET, or a provider that
        refuses a repeated reference). Decides whether a 5xx answer may be retried. company: the
        provider's name, for the reasons."""
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.ConnectTimeout as error:
            raise ProviderError(unreachable(company, error), transient=True, payload=raw(error)) from None
        except requests.ReadTimeout as error:
            raise ProviderError(_("%(company)s did not answer in time", company=company), maybe_sent=True,
                                payload=raw(error)) from None
        except requests.ConnectionError as error:
            if _request_never_left(error):
                raise ProviderError(unreachable(company, error), transient=True, payload=raw(error)) from None
            raise ProviderError(_("the connection to %(company)s broke before it answered", company=company),
                                maybe_sent=True, payload=raw(error)) from None
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
                                code=str(response.status_code), transient=idempotent, maybe_sent=not idempotent,
                                payload=response.text[:2000])
        return response


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
