"""HTTP for adapters: timeouts on every call and requests' errors turned into ProviderError."""
import threading

import requests
from flask_babel import gettext as _
import urllib3

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

    def request(self, method: str, url: str, idempotent: bool | None = None, **kwargs) -> requests.Response:
        """idempotent: repeating the call cannot do the thing twice (GET, or a provider that
        refuses a repeated reference). Decides whether a 5xx answer may be retried."""
        kwargs.setdefault("timeout", self.timeout)
        try:
            response = self.session.request(method, url, **kwargs)
        except requests.ConnectTimeout:
            raise ProviderError(_("could not reach the provider (timed out)"), transient=True) from None
        except requests.ReadTimeout:
            raise ProviderError(_("the provider did not answer in time"), maybe_sent=True) from None
        except requests.ConnectionError as error:
            if _request_never_left(error):
                raise ProviderError(_("could not reach the provider (%(why)s)", why=_short(error)), transient=True) from None
            raise ProviderError(_("the connection broke before the provider answered"), maybe_sent=True) from None
        except requests.RequestException as error:
            raise ProviderError(_("the provider address is not usable (%(why)s)", why=_short(error))) from None
        if response.status_code in (429, 503):  # refused before doing anything
            raise ProviderError(_("the provider is unavailable (HTTP %(status)d)", status=response.status_code),
                                code=str(response.status_code), transient=True, payload=response.text[:2000])
        if response.status_code >= 500:
            # a 500, 502 or 504 may come after the provider did the work: retry only what cannot repeat
            if idempotent is None:
                idempotent = method.upper() in ("GET", "HEAD", "PUT", "DELETE")
            raise ProviderError(_("the provider failed (HTTP %(status)d)", status=response.status_code),
                                code=str(response.status_code), transient=idempotent, maybe_sent=not idempotent,
                                payload=response.text[:2000])
        return response


def _request_never_left(error: requests.ConnectionError) -> bool:
    reason = getattr(error.args[0], "reason", None) if error.args else None
    return isinstance(reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))


def _short(error: Exception) -> str:
    text = str(error)
    if "Connection refused" in text:
        return _("connection refused")
    if "timed out" in text.lower():
        return _("timed out")
    return text[:200]
