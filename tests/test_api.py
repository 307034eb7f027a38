"""The REST API as an integrator uses it: keys, sending, reading, and what it refuses."""
from datetime import timedelta

from sqlalchemy import func, select

from webapp.extensions import db
from webapp.models import ApiKey, ComposeSubmission, Message, OptOut, utcnow
from webapp.services import contacts, opt_outs
from webapp.services.messages import queue_outbound

from .api_support import ApiClient, key_for
from .conftest import login, make_phone, post_form


def message_count(user) -> int:
    db.session.expire_all()
    return db.session.scalar(select(func.count(Message.id)).where(Message.user_id == user.id))


# ---- the document ----

def test_the_openapi_document_is_valid_openapi_3_1_and_public(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"] == "3.1.0"
    from openapi_spec_validator import validate
    validate(spec)
    assert spec["components"]["securitySchemes"]["bearer"] == {
        "type": "http", "scheme": "bearer", "description": "An API key from your account page"}
    assert "/api/v1/messages" in spec["paths"] and "/api/v1/phones" in spec["paths"]


def test_the_documentation_page_shows_curl_with_the_public_address(client, app, user):
    app.config["PUBLIC_BASE_URL"] = "https://sms.example.org"
    login(client, user)
    page = client.get("/api/docs").get_data(as_text=True)
    assert "curl -X POST https://sms.example.org/api/v1/messages" in page
    assert "Idempotency-Key" in page and "POST /api/v1/messages" in page
    assert "cdn" not in page.lower() and "<script src=\"http" not in page


def test_the_documentation_uses_the_request_host_when_the_public_address_is_the_default(client, user):
    login(client, user)
    page = client.get("/api/docs", base_url="http://desk.lan:5000").get_data(as_text=True)
    assert "curl -X POST http://desk.lan:5000/api/v1/messages" in page


# ---- keys ----

def test_a_key_is_shown_once_kept_as_a_hash_and_works_until_revoked(client, user):
    login(client, user)
    answer = post_form(client, "/account", {"key-name": "School software", "key-submit": "1"},
                       action="/account/api-keys")
    page = answer.get_data(as_text=True)
    assert answer.status_code == 200 and "Copy it now" in page
    key = page.split('data-key>')[1].split("<")[0]
    assert key.startswith("smsd_") and len(key) > 40
    assert answer.headers["Cache-Control"] == "no-store"
    assert key not in client.get("/account").get_data(as_text=True)  # never again
    stored = db.session.scalar(select(ApiKey))
    assert stored.name == "School software" and key not in (stored.key_hash, stored.prefix)
    assert stored.last_used_at is None

    api_client = ApiClient(client, key)
    assert api_client.get("/api/v1/phones").status_code == 200
    db.session.expire_all()
    assert db.session.get(ApiKey, stored.id).last_used_at is not None
    assert "School software" in client.get("/account").get_data(as_text=True)

    post_form(client, "/account", {}, action=f"/account/api-keys/{stored.id}/revoke")
    refused = api_client.get("/api/v1/phones")
    assert refused.status_code == 401
    assert refused.get_json()["type"].endswith("/unauthorized")
    assert "School software" not in client.get("/account").get_data(as_text=True)


def test_a_key_revoked_mid_use_is_refused_from_its_next_call(client, user):
    """Calls in a row on one connection, the key revoked between two of them."""
    phone = make_phone(user)
    key = key_for(user)
    caller = ApiClient(client, key)
    answers = []
    for index in range(6):
        if index == 3:
            from webapp.services import api_keys
            api_keys.revoke(user, db.session.scalar(select(ApiKey.id)))
        answers.append(caller.post("/api/v1/messages", json={"to": [f"+3361234567{index}"], "text": "Hi",
                                                             "phone_id": phone.id}).status_code)
    assert answers == [201, 201, 201, 401, 401, 401]
    assert message_count(user) == 3


def test_an_expired_key_is_refused(client, user):
    from webapp.services import api_keys
    made = api_keys.make_key(user, "Old", expires_at=utcnow() - timedelta(seconds=1))
    assert ApiClient(client, made.key).get("/api/v1/phones").status_code == 401


def test_a_key_expiry_is_chosen_on_the_account_page(client, user):
    login(client, user)
    post_form(client, "/account", {"key-name": "Shop", "key-expires_on": "2999-01-31", "key-submit": "1"},
              action="/account/api-keys")
    stored = db.session.scalar(select(ApiKey))
    assert stored.expires_at.year == 2999
    refused = post_form(client, "/account", {"key-name": "Past", "key-expires_on": "2001-01-31", "key-submit": "1"},
                        action="/account/api-keys")
    assert refused.status_code == 400 and "Choose a date in the future." in refused.get_data(as_text=True)


def test_the_session_cookie_never_authenticates_an_api_call(client, user, api):
    login(client, user, remember=True)
    assert client.get("/account").status_code == 200  # signed in, with a remember cookie too
    answer = api.get("/api/v1/phones", key="none")
    assert answer.status_code == 401
    no_header = ApiClient(client, None).get("/api/v1/phones")
    assert no_header.status_code == 401 and no_header.headers["WWW-Authenticate"].startswith("Bearer")
    assert "Set-Cookie" not in no_header.headers


def test_a_key_in_the_url_is_not_read(client, user):
    key = key_for(user)
    assert ApiClient(client, None).get(f"/api/v1/phones?api_key={key}&access_token={key}").status_code == 401


def test_an_unknown_api_path_answers_a_problem(api):
    answer = api.get("/api/v1/nothing-here", validate=False)
    assert answer.status_code == 404 and answer.content_type == "application/problem+json"


def test_api_calls_need_no_csrf_token_but_pages_still_do(client, user, api):
    phone = make_phone(user)
    assert api.post("/api/v1/messages", json={"to": ["+33612345678"], "text": "Hi",
                                              "phone_id": phone.id}).status_code == 201
    login(client, user)
    assert client.post("/account/api-keys", data={"key-name": "No token"}).status_code == 400


# ---- the rate limit ----

def test_each_key_has_its_own_rate_limit_with_headers(app, client, user):
    app.config["API_RATE_LIMIT"] = "3 per minute"
    first, second = ApiClient(client, key_for(user, "A")), ApiClient(client, key_for(user, "B"))
    answers = [first.get("/api/v1/phones") for _ in range(4)]
    assert [answer.status_code for answer in answers] == [200, 200, 200, 429]
    assert answers[0].headers["RateLimit-Limit"] == "3"
    assert [answer.headers["RateLimit-Remaining"] for answer in answers[:3]] == ["2", "1", "0"]
    refused = answers[3]
    assert 0 < int(refused.headers["Retry-After"]) <= 61  # the window of a minute, rounded up
    assert refused.get_json()["type"].endswith("/rate-limited")
    assert second.get("/api/v1/phones").status_code == 200


# ---- sending ----

def test_a_send_to_numbers_contacts_and_groups_queues_each_and_lists_the_rejected(client, user, api):
    phone = make_phone(user)
    contact, _ = contacts.save_contact(user, contacts.ContactInput("Ada", "+33611111111"))
    member, _ = contacts.save_contact(user, contacts.ContactInput("Bob", "+33622222222"))
    group, _ = contacts.save_group(user, "Parents")
    contacts.add_members(user, group, [member.id])
    opt_outs.record(user.id, "+33633333333", OptOut.MANUAL)
    answer = api.post("/api/v1/messages", json={
        "to": ["06 44 44 44 44", "+33633333333", "not a number"], "contact_ids": [contact.id, 999_999],
        "group_ids": [group.id], "text": "School closes at noon", "phone_id": phone.id})
    assert answer.status_code == 201
    body = answer.get_json()
    assert sorted(message["to"] for message in body["messages"]) == ["+33611111111", "+33622222222", "+33644444444"]
    assert {message["status"] for message in body["messages"]} == {"queued"}
    assert {(rejected["recipient"], rejected["code"]) for rejected in body["rejected"]} == {
        ("+33633333333", "opted_out"), ("not a number", "invalid_number"), ("contact:999999", "unknown_contact")}
    assert message_count(user) == 3
    queued = db.session.get(Message, body["messages"][0]["id"])
    assert queued.compose_batch and queued.body == "School closes at noon"


def test_rejected_reasons_are_in_the_language_asked_for(client, user, api):
    phone = make_phone(user)
    opt_outs.record(user.id, "+33633333333", OptOut.MANUAL)
    body = {"to": ["+33633333333", "+33644444444"], "text": "Bonjour", "phone_id": phone.id}
    french = api.post("/api/v1/messages", json=body, headers={"Accept-Language": "fr"}).get_json()
    assert "désabonné" in french["rejected"][0]["reason"]
    user.locale = "fr"
    db.session.commit()
    refused = api.post("/api/v1/messages", json={"to": ["x"], "text": "Bonjour", "phone_id": phone.id})
    assert "valide" in refused.get_json()["errors"][0]["detail"]  # the user's language, none asked for
    english = api.post("/api/v1/messages", json={"to": ["x"], "text": "Hi", "phone_id": phone.id},
                       headers={"Accept-Language": "en"})
    assert "is not a valid number" in english.get_json()["errors"][0]["detail"]


def test_without_a_phone_the_send_leaves_from_the_first_phone_added(client, user, api):
    first = make_phone(user, name="Zeta")
    make_phone(user, name="Alpha")
    answer = api.post("/api/v1/messages", json={"to": ["+33612345678"], "text": "Hi"})
    assert answer.status_code == 201 and answer.get_json()["phone_id"] == first.id
    phones = api.get("/api/v1/phones").get_json()["data"]
    assert [(phone["name"], phone["default"]) for phone in phones] == [("Alpha", False), ("Zeta", True)]


def test_validation_errors_name_each_field(client, user, api):
    make_phone(user)
    answer = api.post("/api/v1/messages", json={"to": "+33612345678", "flash": "often"})
    assert answer.status_code == 422
    problem = answer.get_json()
    assert problem["type"].endswith("/validation-failed")
    assert {error["field"] for error in problem["errors"]} == {"to", "text", "flash"}


def test_flash_is_refused_where_the_phone_cannot_and_a_past_time_everywhere(client, user, api):
    phone = make_phone(user)
    answer = api.post("/api/v1/messages", json={"to": ["+33612345678"], "text": "Hi", "phone_id": phone.id,
                                                "flash": True, "send_at": "2001-01-01T10:00:00+01:00"})
    assert answer.status_code == 422
    assert {error["field"] for error in answer.get_json()["errors"]} == {"flash", "send_at"}
    assert message_count(user) == 0


def test_a_later_time_from_a_phone_that_cannot_schedule_is_held_by_sms_desk(client, user, api):
    phone = make_phone(user)
    answer = api.post("/api/v1/messages", json={"to": ["+33612345678"], "text": "Hi", "phone_id": phone.id,
                                                "send_at": "2999-01-01T10:00:00+01:00"})
    assert answer.status_code in (201, 202), answer.get_json()
    assert answer.get_json()["messages"][0]["status"] == "scheduled"


def test_another_users_phone_is_refused_by_name(client, user, api, other_user):
    theirs = make_phone(other_user)
    answer = api.post("/api/v1/messages", json={"to": ["+33612345678"], "text": "Hi", "phone_id": theirs.id})
    assert answer.status_code == 422 and answer.get_json()["errors"][0]["field"] == "phone_id"


def test_the_same_idempotency_key_and_body_answers_the_first_call_and_sends_nothing_more(client, user, api):
    phone = make_phone(user)
    opt_outs.record(user.id, "+33633333333", OptOut.MANUAL)
    body = {"to": ["+33612345678", "+33633333333"], "text": "Order 1234 shipped", "phone_id": phone.id}
    headers = {"Idempotency-Key": "order-1234"}
    first = api.post("/api/v1/messages", json=body, headers=headers)
    again = api.post("/api/v1/messages", data='{"text": "Order 1234 shipped", "phone_id": %d, "to": '
                     '["+33612345678", "+33633333333"]}' % phone.id, content_type="application/json", headers=headers)
    assert (first.status_code, again.status_code) == (201, 200)
    assert again.get_json() == first.get_json() and again.headers["Idempotent-Replayed"] == "true"
    assert message_count(user) == 1
    other_body = api.post("/api/v1/messages", json=dict(body, text="Order 1235 shipped"), headers=headers)
    assert other_body.status_code == 422
    assert other_body.get_json()["type"].endswith("/idempotency-key-reused")
    assert message_count(user) == 1
    assert db.session.scalar(select(ComposeSubmission.token)) != "order-1234"  # kept hashed


def test_an_idempotency_key_is_kept_24_hours(client, user, api):
    phone = make_phone(user)
    body, headers = {"to": ["+33612345678"], "text": "Hi", "phone_id": phone.id}, {"Idempotency-Key": "k"}
    assert api.post("/api/v1/messages", json=body, headers=headers).status_code == 201
    db.session.execute(ComposeSubmission.__table__.update().values(created_at=utcnow() - timedelta(hours=25)))
    db.session.commit()
    assert api.post("/api/v1/messages", json=body, headers=headers).status_code == 201
    assert message_count(user) == 2


def test_one_recipient_who_opted_out_is_refused(client, user, api):
    phone = make_phone(user)
    opt_outs.record(user.id, "+33633333333", OptOut.MANUAL)
    answer = api.post("/api/v1/messages", json={"to": ["+33633333333"], "text": "Hi", "phone_id": phone.id})
    assert answer.status_code == 422 and answer.get_json()["errors"][0]["field"] == "to"


# ---- messages ----

def test_messages_are_listed_by_cursor_with_the_historys_filters(client, user, api):
    phone = make_phone(user)
    queue_outbound(phone, [f"+3361234{index:04d}" for index in range(5)], "Reminder: parents meeting")
    queue_outbound(phone, ["+33699999999"], "Bus is late")
    first = api.get("/api/v1/messages?limit=2&text=meeting").get_json()
    assert len(first["data"]) == 2 and first["next_cursor"]
    seen = [message["id"] for message in first["data"]]
    cursor = first["next_cursor"]
    while cursor:
        page = api.get(f"/api/v1/messages?limit=2&text=meeting&cursor={cursor}").get_json()
        seen += [message["id"] for message in page["data"]]
        cursor = page["next_cursor"]
    assert len(seen) == len(set(seen)) == 5 and seen == sorted(seen, reverse=True)
    assert [m["number"] for m in api.get("/api/v1/messages?number=0699999999").get_json()["data"]] == ["+33699999999"]
    assert api.get("/api/v1/messages?status=delivered").get_json()["data"] == []
    bad = api.get("/api/v1/messages?status=lost&limit=0")
    assert bad.status_code == 422 and {error["field"] for error in bad.get_json()["errors"]} == {"status", "limit"}


def test_a_message_is_read_with_its_timeline_and_canceled_before_it_leaves(client, user, api):
    phone = make_phone(user)
    [message_id] = queue_outbound(phone, ["+33612345678"], "Hi")
    shown = api.get(f"/api/v1/messages/{message_id}").get_json()
    assert shown["status"] == "queued" and [entry["status"] for entry in shown["timeline"]] == ["queued"]
    canceled = api.post(f"/api/v1/messages/{message_id}/cancel")
    assert canceled.status_code == 200
    assert canceled.get_json()["outcome"] == "canceled" and canceled.get_json()["message"]["status"] == "canceled"
    again = api.post(f"/api/v1/messages/{message_id}/cancel")
    assert again.status_code == 409 and again.get_json()["type"].endswith("/too-late")


# ---- conversations and incoming SMS ----

def receive(phone, sender, text, provider_id):
    from webapp.providers.base import InboundSms
    from webapp.services.messages import record_inbound
    return record_inbound(phone, InboundSms(sender=sender, text=text, provider_message_id=provider_id))


def test_incoming_sms_show_their_unread_state_until_the_conversation_is_read(client, user, api):
    phone = make_phone(user)
    receive(phone, "+33612345678", "Is school open?", "in-1")
    receive(phone, "+33612345678", "Hello?", "in-2")
    incoming = api.get("/api/v1/incoming").get_json()
    assert [(m["text"], m["unread"]) for m in incoming["data"]] == [("Hello?", True), ("Is school open?", True)]
    assert incoming["unread_total"] == 2
    [conversation] = api.get("/api/v1/conversations").get_json()["data"]
    assert (conversation["number"], conversation["unread_count"]) == ("+33612345678", 2)
    assert api.post("/api/v1/conversations/+33612345678/read").get_json()["unread_count"] == 0
    assert [m["unread"] for m in api.get("/api/v1/incoming").get_json()["data"]] == [False, False]
    assert api.post("/api/v1/conversations/+33612345678/unread").get_json()["unread_count"] == 1
    assert [m["unread"] for m in api.get("/api/v1/incoming").get_json()["data"]] == [True, False]


# ---- contacts and groups ----

def test_contacts_are_created_read_changed_and_deleted(client, user, api):
    created = api.post("/api/v1/contacts", json={"name": "Ada", "number": "06 12 34 56 78",
                                                 "fields": {"class": "6B"}})
    assert created.status_code == 201
    contact = created.get_json()
    assert (contact["number"], contact["fields"]) == ("+33612345678", {"class": "6B"})
    same_number = api.post("/api/v1/contacts", json={"name": "Bob", "number": "+33612345678"})
    assert same_number.status_code == 422 and same_number.get_json()["errors"][0]["field"] == "number"
    changed = api.patch(f"/api/v1/contacts/{contact['id']}", json={"name": "Ada L."}).get_json()
    assert (changed["name"], changed["number"], changed["fields"]) == ("Ada L.", "+33612345678", {"class": "6B"})
    assert [c["name"] for c in api.get("/api/v1/contacts?q=ada").get_json()["data"]] == ["Ada L."]
    assert api.delete(f"/api/v1/contacts/{contact['id']}").status_code == 204
    assert api.get(f"/api/v1/contacts/{contact['id']}").status_code == 404


def test_groups_are_made_filled_renamed_and_deleted(client, user, api):
    ada = api.post("/api/v1/contacts", json={"name": "Ada", "number": "+33611111111",
                                             "fields": {"class": "6B"}}).get_json()
    group = api.post("/api/v1/groups", json={"name": "Parents"}).get_json()
    assert (group["size"], group["smart"]) == (0, False)
    added = api.post(f"/api/v1/groups/{group['id']}/members", json={"contact_ids": [ada["id"]]}).get_json()
    assert added == {"changed": 1, "size": 1}
    assert [c["id"] for c in api.get(f"/api/v1/groups/{group['id']}/members").get_json()["data"]] == [ada["id"]]
    assert api.patch(f"/api/v1/groups/{group['id']}", json={"name": "Families"}).get_json()["name"] == "Families"
    smart = api.post("/api/v1/groups", json={"name": "6B", "conditions": [
        {"field": "class", "operator": "=", "value": "6B"}]}).get_json()
    assert (smart["smart"], smart["size"]) == (True, 1)
    duplicate = api.post("/api/v1/groups", json={"name": "6B"})
    assert duplicate.status_code == 422 and duplicate.get_json()["errors"][0]["field"] == "name"
    assert api.delete(f"/api/v1/groups/{group['id']}/members", json={"contact_ids": [ada["id"]]}).get_json() == {
        "changed": 1, "size": 0}
    assert api.delete(f"/api/v1/groups/{group['id']}").status_code == 204
    assert [g["name"] for g in api.get("/api/v1/groups").get_json()["data"]] == ["6B"]


# ---- opt-outs and phones ----

def test_opt_outs_are_listed_added_and_removed(client, user, api):
    added = api.post("/api/v1/opt-outs", json={"number": "06 12 34 56 78"})
    assert added.status_code == 201 and added.get_json()["source"] == "manual"
    assert api.post("/api/v1/opt-outs", json={"number": "+33612345678"}).status_code == 200
    assert [o["number"] for o in api.get("/api/v1/opt-outs").get_json()["data"]] == ["+33612345678"]
    bad = api.post("/api/v1/opt-outs", json={"number": "12"})
    assert bad.status_code == 422 and bad.get_json()["errors"][0]["field"] == "number"
    assert api.delete("/api/v1/opt-outs/+33612345678").status_code == 204
    assert api.delete("/api/v1/opt-outs/+33612345678").status_code == 404
    assert api.get("/api/v1/opt-outs").get_json()["data"] == []


def test_phones_are_listed_with_capabilities_and_health_and_never_a_secret(app, client, user, api):
    make_phone(user, provider_key="twilio", name="Twilio", account_sid="AC" + "1" * 32,
               auth_token="very-secret-token-1234", number="+15005550006")
    answer = api.get("/api/v1/phones")
    [phone] = answer.get_json()["data"]
    assert phone["provider"] == "twilio" and "send" in phone["capabilities"]
    assert set(phone["health"]) == {"last_check_at", "last_check_ok", "last_check_message", "last_callback_at",
                                    "failures_last_24h", "recent_sends", "recent_failures", "healthy", "last_error",
                                    "last_error_at", "credits"}
    text = answer.get_data(as_text=True)
    assert "very-secret-token-1234" not in text and "callback" not in text.replace("last_callback_at", "")
