"""What works at this server's address, per phone: told by the provider's callbacks, or asked by
SMS Desk, as the adapter's abilities and the phone's polling mode make it."""
from dataclasses import dataclass

from flask import current_app

from ..models import Phone
from ..providers.base import Capability
from ..reasons import Reason as _
from .phones import adapter_for, asks_provider, public_address_is_local
from .polling import lists_inbound


@dataclass(frozen=True)
class WhatWorks:
    label: _
    how: _
    works: bool  # at this address, now


def what_works(phone: Phone) -> tuple[list[WhatWorks], _ | None]:
    """A line per kind of news from the provider, and a closing remark (or None)."""
    adapter = adapter_for(phone)
    settings = phone.settings or {}
    company, local, asks = adapter.company, public_address_is_local(), asks_provider(phone)
    lines = []
    if adapter.has(Capability.DELIVERY_TRACKING, settings):
        lines.append(WhatWorks(_("Delivery reports"), *delivery_reports(adapter, company, local, asks)))
    if adapter.has(Capability.RECEIVE, settings):
        lines.append(WhatWorks(_("Incoming SMS"), *incoming_sms(adapter, company, local)))
    closing = None
    if asks and adapter.has_callbacks:
        closing = _("With a public address, they arrive at once.")
    elif local and adapter.calls_from_internet and adapter.has_callbacks and not adapter.can_be_asked():
        closing = _("%(company)s can only tell SMS Desk through callbacks: you need a public address.",
                    company=company)
    return lines, closing


def delivery_reports(adapter, company, local: bool, asks: bool) -> tuple[_, bool]:
    if not adapter.calls_from_internet:
        return _("They come from this server itself (works at any address)."), True
    if not adapter.has_callbacks:
        return _("SMS Desk asks %(company)s about each SMS it sends (works at any address).", company=company), True
    if asks and adapter.polls_statuses:
        return _("SMS Desk asks %(company)s about each SMS a minute after it is sent, then less and less often "
                 "for a day (works now).", company=company), True
    if not local:
        return _("%(company)s tells SMS Desk as soon as it knows, through the callback URL.", company=company), True
    if adapter.polls_statuses:
        return _("%(company)s cannot reach this address, and SMS Desk does not ask (you chose never): reports "
                 "come late, from SMS Desk's occasional checks.", company=company), False
    return _("Only through a callback, and %(company)s cannot reach this address.", company=company), False


def incoming_sms(adapter, company, local: bool) -> tuple[_, bool]:
    if not adapter.calls_from_internet:
        return _("They come from this server itself (works at any address)."), True
    if lists_inbound(adapter):
        return _("SMS Desk asks %(company)s every %(seconds)d s (works now).", company=company,
                 seconds=round(current_app.config["INBOUND_POLL_SECONDS"])), True
    if not local:
        return _("%(company)s passes them on at once, through the callback URL.", company=company), True
    return _("Only through a callback, and %(company)s cannot reach this address.", company=company), False
