"""What SMS Desk writes for people is stored as what happened and read in the reader's language;
raw exception texts and account ids never reach a reason."""
import requests

from webapp import statuses
from webapp.models import MessageEvent
from webapp.providers.base import ProviderError
from webapp.providers.http import ProviderHttp, unreachable
from webapp.reasons import ATTEMPT, ATTEMPT_FAILED, Reason, loaded, plural, shown, stored
from webapp.services.messages import queue_outbound
from webapp.services.timeline import RepeatedAttempts, timeline_entries

from .conftest import free_port, make_phone, reload_message, send_now


def test_a_reason_is_stored_as_its_message_id_and_read_in_each_language(app):
    from flask_babel import force_locale
    reason = Reason("Attempt %(number)d failed: %(reason)s. Next try in %(delay)d s.", number=2, delay=4,
                    reason=Reason("the simulated provider is busy (HTTP 503)"))
    kept = stored(reason)
    assert loaded(kept) == reason
    with force_locale("fr"):
        assert shown(kept).replace("\xa0", " ") == (
            "Échec de la tentative 2 : le fournisseur simulé est surchargé (HTTP 503). Nouvel essai dans 4 s.")
    with force_locale("en"):
        assert shown(kept) == "Attempt 2 failed: the simulated provider is busy (HTTP 503). Next try in 4 s."
        assert shown(stored(plural("no delivery report after %(num)d check",
                                   "no delivery report after %(num)d checks", 3))) == "no delivery report after 3 checks"


def test_a_providers_own_words_and_older_rows_are_shown_as_they_are(app):
    assert shown("Numéro invalide") == "Numéro invalide"
    assert shown('{"reason": not json') == '{"reason": not json'
    assert shown(None) == ""


def test_an_unreachable_provider_is_said_in_a_sentence_without_the_exception_or_the_account(app):
    http = ProviderHttp(connect_timeout=2, read_timeout=2)
    url = f"http://127.0.0.1:{free_port()}/2010-04-01/Accounts/AC0123456789abcdef/Messages.json"
    try:
        http.request("POST", url, company="Twilio")
    except ProviderError as error:
        refused = error
    assert refused.transient
    assert shown(stored(refused.reason)) == \
        "SMS Desk cannot reach Twilio from this server (the connection was refused)"
    assert "AC0123456789abcdef" in refused.payload["detail"]  # kept for whoever wants it, not in the reason
    assert "AC0123456789abcdef" not in stored(refused.reason)


def test_an_account_id_in_twilios_own_words_stays_out_of_the_reason(app):
    from webapp.providers.twilio import twilio_error
    body = {"code": 20404, "message": "The requested resource /2010-04-01/Accounts/AC" + "0a" * 16
            + "/Messages/SM1.json was not found"}
    error = twilio_error(404, body)
    assert "AC" + "0a" * 16 not in stored(error.reason)
    assert "was not found" in shown(stored(error.reason))
    assert error.payload == body


def test_each_network_fault_has_its_sentence(app):
    faults = {"HTTPSConnectionPool(host='api.twilio.com', port=443): Max retries exceeded (Caused by "
              "NameResolutionError(\"Failed to resolve 'api.twilio.com' ([Errno -3] Temporary failure in name "
              "resolution)\"))": "the name lookup failed",
              "[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed": "the secure connection failed",
              "[Errno 101] Network is unreachable": "the network is unreachable",
              "something nobody foresaw": "a network error"}
    for text, why in faults.items():
        assert shown(unreachable("OVH", requests.ConnectionError(text))) == \
            f"SMS Desk cannot reach OVH from this server ({why})"


def test_a_provider_busy_four_times_shows_one_line_for_its_four_failed_attempts(app, user, live_server, logged_in):
    phone = make_phone(user, busy_attempts="4")
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    for _attempt in range(5):
        send_now(message_id)  # each failure puts it back in the queue
    message = reload_message(message_id)
    assert message.status in (statuses.SENT, statuses.DELIVERED) and message.attempt_count == 5
    entries = timeline_entries(message.events)
    [run] = [entry for entry in entries if isinstance(entry, RepeatedAttempts)]
    assert (run.first_attempt, run.last_attempt) == (1, 4)
    page = logged_in.get(f"/messages/{message_id}").get_data(as_text=True)
    assert page.count("Attempts 1 to 4 failed: the simulated provider is busy (HTTP 503)") == 1
    assert "Attempt 5" in page and "Attempt 2 failed" not in page
    french = logged_in.get(f"/messages/{message_id}", headers={"Accept-Language": "fr"}).get_data(as_text=True)
    assert "Les tentatives 1 à 4 ont échoué : le fournisseur simulé est surchargé (HTTP 503)" in french


def test_attempts_that_failed_for_different_reasons_keep_their_own_lines(app, user):
    [message_id] = queue_outbound(make_phone(user), ["+33612345678"], "Hi")
    rows = [(statuses.SENDING, Reason(ATTEMPT, number=1)),
            (statuses.QUEUED, Reason(ATTEMPT_FAILED, number=1, delay=2, reason=Reason("busy"))),
            (statuses.SENDING, Reason(ATTEMPT, number=2)),
            (statuses.QUEUED, Reason(ATTEMPT_FAILED, number=2, delay=4, reason=Reason("refused")))]
    events = [MessageEvent(message_id=message_id, status=status, reason=stored(reason)) for status, reason in rows]
    assert timeline_entries(events) == events
