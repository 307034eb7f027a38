"""Input nobody should send, from a provider or a browser: answered 4xx with a reason, never 500,
and never changing what is stored."""
import json
import re
from urllib.parse import quote, urlsplit

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from webapp import statuses
from webapp.extensions import db
from webapp.models import Message, MessageEvent
from webapp.providers import PROVIDERS
from webapp.providers.twilio import twilio_signature
from webapp.services.messages import queue_outbound
from webapp.services.phones import callback_url

from .conftest import make_phone, reload_message

TOO_LARGE = "99999999999999999999999"
DEEP_JSON = "[" * 1000 + "]" * 1000
PROVIDER_SETTINGS = {
    "twilio": dict(account_sid="AC" + "0" * 32, auth_token="twilio-auth-token", number="+15005550006"),
    "ovh": dict(application_key="k", application_secret="s", consumer_key="c", service_name="sms-1", sender="X"),
    "octopush": dict(api_login="ada@example.org", api_key="k3y", virtual_number="+33644630000"),
    "odyssey": dict(login="12345.user", password="secret"),
}


def path_of(phone, kind):
    return urlsplit(callback_url(phone, kind)).path


def sent_message(phone, provider_id="P1"):
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    message = db.session.get(Message, message_id)
    message.status, message.provider_message_id = statuses.SENT, provider_id
    db.session.commit()
    return message


def timeline(message_id):
    return db.session.execute(select(MessageEvent.status, MessageEvent.payload).where(
        MessageEvent.message_id == message_id).order_by(MessageEvent.id)).all()


# ---- payloads of any size are stored cut

def test_a_200_kb_report_moves_the_status_and_stores_16_kb_of_it_saying_so(client, user):
    phone = make_phone(user)
    message = sent_message(phone)
    response = client.post(path_of(phone, "status"),
                           data={"message_id": "P1", "status": "DELIVERED", "padding": "x" * 200_000})
    assert response.status_code == 200
    assert reload_message(message.id).status == statuses.DELIVERED
    _status, payload = timeline(message.id)[-1]
    assert len(payload.encode()) <= 16 * 1024
    assert payload.endswith("[payload cut at 16 KB of 196 KB]")


def test_a_large_incoming_sms_is_kept_with_16_kb_of_its_payload(client, user):
    phone = make_phone(user)
    response = client.post(path_of(phone, "inbound"),
                           data={"message_id": "IN1", "from": "+33612345678", "text": "hi", "padding": "é" * 30_000})
    assert response.status_code == 200
    message = db.session.scalar(select(Message).where(Message.direction == Message.INBOUND))
    [(status, payload)] = timeline(message.id)
    assert status == statuses.RECEIVED and len(payload.encode()) <= 16 * 1024  # not half an "é" either
    assert payload.endswith("é… [payload cut at 16 KB of 59 KB]")


# ---- malformed callbacks answer 400 with the reason

def json_callback(client, phone, kind, text):
    return client.post(path_of(phone, kind), data=text.encode(), content_type="application/json")


def test_json_nested_a_thousand_deep_is_refused_with_a_reason(client, user):
    phone = make_phone(user, provider_key="octopush", **PROVIDER_SETTINGS["octopush"])
    response = json_callback(client, phone, "status", '{"message_id": "P1", "status": "DELIVERED", "meta_data": '
                             + DEEP_JSON + "}")
    assert response.status_code == 400 and "nested too deeply" in response.get_data(as_text=True)


def test_a_lone_surrogate_in_json_is_refused_with_a_reason(client, user):
    phone = make_phone(user, provider_key="odyssey", **PROVIDER_SETTINGS["odyssey"])
    response = json_callback(client, phone, "inbound", '{"EventType": 8, "From": "0033612345678", '
                             '"Message": "a\\ud800b", "EventDateTime": "/Date(1677243600000+0100)/"}')
    assert response.status_code == 400 and "surrogate" in response.get_data(as_text=True)
    assert db.session.scalar(select(func.count(Message.id))) == 0


def test_an_odyssey_date_past_any_calendar_is_refused_with_a_reason(client, user):
    phone = make_phone(user, provider_key="odyssey", **PROVIDER_SETTINGS["odyssey"])
    for date in ("/Date(99999999999999999999)/", "/Date(-99999999999999999999)/"):
        response = json_callback(client, phone, "inbound", json.dumps(
            {"EventType": 8, "From": "0033612345678", "Message": "hi", "EventDateTime": date}))
        assert response.status_code == 400 and "date out of range" in response.get_data(as_text=True)


def test_an_octopush_date_before_year_one_in_utc_is_refused(client, user):
    phone = make_phone(user, provider_key="octopush", **PROVIDER_SETTINGS["octopush"])
    response = json_callback(client, phone, "inbound", json.dumps(
        {"number": "+33698765432", "text": "hi", "reception_date": "0001-01-01 00:00:00"}))
    assert response.status_code == 400 and "unreadable date" in response.get_data(as_text=True)


# ---- ids and arguments in pages' URLs

def test_ids_no_row_can_have_answer_404_or_are_ignored(logged_in, user):
    phone = make_phone(user)
    sent_message(phone)
    for path in (f"/messages/{TOO_LARGE}", f"/messages/{TOO_LARGE}/cancel", f"/phones/{TOO_LARGE}",
                 f"/phones/{TOO_LARGE}/edit", f"/messages/{2**31}"):
        assert logged_in.get(path).status_code in (404, 405), path
    for path in (f"/history?before={TOO_LARGE}", f"/history?before=-{TOO_LARGE}",
                 f"/history?fragment=after&after_id={TOO_LARGE}", f"/conversations/+33612345678?before={TOO_LARGE}",
                 f"/conversations/+33612345678?fragment=after&after_id={TOO_LARGE}",
                 f"/conversations?before={TOO_LARGE}", f"/conversations?before=x&fragment=1", f"/inbox?after={TOO_LARGE}",
                 "/conversations?q=%00", "/conversations?q=" + "0" * 300, "/conversations?q=%25_"):
        assert logged_in.get(path).status_code == 200, path
    response = logged_in.get(f"/messages/statuses?ids={TOO_LARGE},1,²")
    assert response.status_code == 200 and list(response.get_json()) == ["1"]


def test_ids_past_any_row_answer_404_on_every_kind_of_page(logged_in, user):
    for path in (f"/contacts/{TOO_LARGE}", f"/contacts/groups/{TOO_LARGE}", f"/contacts/import/{TOO_LARGE}",
                 f"/campaigns/{TOO_LARGE}", f"/campaigns/drafts/{TOO_LARGE}", f"/webhooks/{TOO_LARGE}",
                 f"/messages/{2**63}", f"/phones/{2**31 - 1}"):
        response = logged_in.get(path)
        assert response.status_code == 404, path
        assert "Page not found" in response.get_data(as_text=True), path


def filter_problems(page):
    return [re.sub(r"\s+", " ", problem).strip() for problem in re.findall(r'class="error"[^>]*>([^<]+)<', page)]


def test_history_filters_typed_wrong_in_the_url_say_so_in_the_users_words(logged_in, user):
    make_phone(user)
    for query, problem in (("phone=abc", "This is not one of your phones: choose one in the list."),
                           (f"phone={TOO_LARGE}", "This is not one of your phones: choose one in the list."),
                           ("status=bogus", "Choose a status in the list."),
                           ("direction=sideways", "Choose a direction in the list."),
                           ("date_from=yesterday", "This is not a date: choose one in the calendar, or write it "
                                                   "as 2026-01-31.")):
        response = logged_in.get("/history?" + query)
        assert response.status_code == 200, query
        assert filter_problems(response.get_data(as_text=True)) == [problem], query
    user.locale = "fr"
    db.session.commit()
    page = logged_in.get("/history?phone=abc&date_to=x").get_data(as_text=True)
    assert filter_problems(page) == ["Ce n’est pas l’un de vos téléphones : choisissez-en un dans la liste.",
                                     "Ce n’est pas une date : choisissez-la dans le calendrier, ou écrivez-la "
                                     "sous la forme 2026-01-31."]
    assert "coerce" not in page and "convert" not in page


def test_history_links_carry_its_filters_and_nothing_else(logged_in, user):
    phone = make_phone(user)
    queue_outbound(phone, [f"+336123456{index:02d}" for index in range(60)], "Hi")
    response = logged_in.get("/history?status=queued&endpoint=x&_method=POST&_external=1&_anchor=top"
                             "&_scheme=javascript&fragment=x&after_id=3")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    links = re.findall(r'(?:href|data-new-rows)="(/history\?[^"]*)"', html)
    assert links and all("status=queued" in link for link in links)
    assert not re.search(r"javascript|_external|_method|_anchor|endpoint|#top|://", " ".join(links))


# ---- every callback of every provider, fuzzed

def provider_phones(user):
    """A phone of each provider that has callbacks, each with a message sent, provider id P1."""
    phones = {}
    for key, provider in PROVIDERS.items():
        if provider.has_callbacks:
            phones[key] = make_phone(user, provider_key=key, name=key, **PROVIDER_SETTINGS.get(key, {}))
            sent_message(phones[key])
    return phones


# A valid report or incoming SMS of each provider, that the fuzzer spoils: its fields replaced and
# others added, hostile values among them, sent in the provider's own form or another.
VALID = {
    ("simulator", "status"): ("form", {"message_id": "P1", "status": "DELIVERED"}),
    ("simulator", "inbound"): ("form", {"message_id": "IN1", "from": "+33612345678", "text": "hi"}),
    ("twilio", "status"): ("form", {"MessageSid": "P1", "MessageStatus": "delivered"}),
    ("twilio", "inbound"): ("form", {"MessageSid": "SM1", "From": "+33612345678", "Body": "hi"}),
    ("ovh", "status"): ("query", {"id": "P1", "dlr": "1"}),
    ("ovh", "inbound"): ("query", {"id": "9", "senderid": "+33612345678", "message": "hi"}),
    ("octopush", "status"): ("json", {"message_id": "P1", "number": "+33612345678", "status": "DELIVERED",
                                      "delivery_date": "2025-01-22 11:46:06"}),
    ("octopush", "inbound"): ("json", {"number": "+33612345678", "text": "hi",
                                       "reception_date": "2025-01-22 11:46:06"}),
    ("odyssey", "status"): ("json", {"EventType": 9, "JobNumber": "P1", "Outcome": "S"}),
    ("odyssey", "inbound"): ("json", {"EventType": 8, "From": "0033612345678", "Message": "hi",
                                      "EventDateTime": "/Date(1677243600000+0100)/"}),
}
FIELD_NAMES = sorted({name for _transport, fields in VALID.values() for name in fields} | {"meta_data", "other"})
HOSTILE_VALUES = ["__DEEP__", "\ud800", "a\udfffb", "/Date(99999999999999999999)/", "/Date(-1e400)/",
                  "0001-01-01 00:00:00", "9999-12-31 23:59:59", TOO_LARGE, "1e400", "-0", "%ED%A0%80", "\x00",
                  "x" * 20_000, "P1", "DELIVERED", "delivered", "S", "F", "1", "9", "8", "+33612345678", ""]
hostile = st.sampled_from(HOSTILE_VALUES)
json_values = st.recursive(
    st.one_of(hostile, hostile, hostile, st.text(max_size=10), st.integers(), st.floats(), st.booleans(), st.none()),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from(FIELD_NAMES), inner, max_size=3),
    max_leaves=6)
spoils = st.dictionaries(st.sampled_from(FIELD_NAMES), hostile | json_values, max_size=4)


def as_text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def url_encoded(fields: dict) -> str:
    """As a sender that writes a lone surrogate as UTF-8 would (%ED%A0%80), not valid UTF-8."""
    return "&".join(quote(name) + "=" + quote(as_text(value).encode("utf-8", "surrogatepass"))
                    for name, value in fields.items())


def json_body(fields: dict) -> bytes:
    # json.dumps writes a lone surrogate as the escape "\ud800", as a hostile sender would
    return json.dumps(fields).replace('"__DEEP__"', DEEP_JSON).encode()


def twilio_headers(app, path, query, form):
    url = app.config["PUBLIC_BASE_URL"] + path + ("?" + query if query else "")
    params = {name: [value] for name, value in form.items()}
    try:
        return {"X-Twilio-Signature": twilio_signature(PROVIDER_SETTINGS["twilio"]["auth_token"], url, params)}
    except UnicodeEncodeError:  # a value Twilio could not have signed
        return {"X-Twilio-Signature": "unsigned"}


def stored_state():
    return (db.session.execute(select(Message.id, Message.status).order_by(Message.id)).all(),
            db.session.scalar(select(func.count(MessageEvent.id))))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(callback=st.sampled_from(sorted(VALID)), spoiled=spoils, query_spoils=spoils,
       transport=st.sampled_from(["own", "own", "json", "form", "xml", "query"]))
@example(callback=("octopush", "status"), spoiled={"meta_data": "__DEEP__"}, query_spoils={}, transport="own")
@example(callback=("odyssey", "inbound"), spoiled={"Message": "a\ud800b"}, query_spoils={}, transport="own")
@example(callback=("octopush", "inbound"), spoiled={"text": "\udfff"}, query_spoils={}, transport="own")
@example(callback=("odyssey", "inbound"), spoiled={"EventDateTime": "/Date(99999999999999999999)/"},
         query_spoils={}, transport="own")
@example(callback=("octopush", "inbound"), spoiled={"reception_date": "0001-01-01 00:00:00"}, query_spoils={},
         transport="own")
@example(callback=("simulator", "status"), spoiled={}, query_spoils={"message_id": "\ud800", "x": TOO_LARGE},
         transport="form")
@example(callback=("simulator", "inbound"), spoiled={"message_id": "x" * 101}, query_spoils={}, transport="own")
def test_fuzzed_callbacks_of_every_provider_never_fail_and_change_nothing_unless_valid(
        app, client, user, callback, spoiled, query_spoils, transport):
    if not hasattr(user, "_fuzz_phones"):  # once for all examples: the fixtures are the test's
        user._fuzz_phones = provider_phones(user)
    provider_key, kind = callback
    own_transport, fields = VALID[callback]
    transport = own_transport if transport == "own" else transport
    body_fields = dict(fields, **spoiled)
    query_fields = dict(body_fields if transport == "query" else {}, **query_spoils)
    path = path_of(user._fuzz_phones[provider_key], kind)
    query = url_encoded(query_fields)
    if transport == "json":
        request = dict(data=json_body(body_fields), content_type="application/json")
    elif transport == "xml":
        elements = "".join(f"<{name}>{as_text(value)}</{name}>" for name, value in body_fields.items())
        request = dict(data=f"<?xml version='1.0'?><callback>{elements}</callback>".encode("utf-8", "surrogatepass"),
                       content_type="text/xml")
    elif transport == "form":
        request = dict(data=url_encoded(body_fields), content_type="application/x-www-form-urlencoded")
    else:
        request = {}
    if provider_key == "twilio":
        form = {name: as_text(value) for name, value in body_fields.items()} if transport == "form" else {}
        request["headers"] = twilio_headers(app, path, query, form)
    before = stored_state()
    response = client.post(path + ("?" + query if query else ""), **request)
    assert response.status_code < 500, response.get_data(as_text=True)
    if response.status_code >= 400:
        db.session.expire_all()
        assert stored_state() == before


def test_a_nul_typed_in_a_phones_name_or_setting_is_dropped(logged_in, user):
    """PostgreSQL cannot store one: it answered 500."""
    from webapp.models import Phone
    from .conftest import post_form
    response = post_form(logged_in, "/phones/new/simulator", {
        "name": "Front\x00 desk", "setting_delivery_delay_seconds": "1\x00", "setting_answer_delay_seconds": "0"})
    assert response.status_code == 302
    phone = db.session.scalar(select(Phone))
    assert (phone.name, phone.settings["delivery_delay_seconds"]) == ("Front desk", "1")
