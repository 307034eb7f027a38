"""The webhooks page through its forms (CSRF on): adding an endpoint shows its secret once, a
refused URL says why, the log with its resend and test buttons, each user's endpoints their own,
the verification example of the page works, and the pages speak French."""
import html
import re
import shutil
import socket
import ssl
import subprocess

import pytest
import trustme
from sqlalchemy import select

from webapp.extensions import db
from webapp.models import OptOut, WebhookAttempt, WebhookDelivery, WebhookEndpoint
from webapp.services import opt_outs, webhooks

from .conftest import csrf_token_from, free_port, login, make_user, post_form, run_queued_jobs, wait_for
from .fakes.receiver import Receiver


@pytest.fixture
def receiver():
    receiver = Receiver(reply_status=200)
    yield receiver
    receiver.close()


def add_through_form(client, url, events=("message.received", "optout.created")):
    return post_form(client, "/webhooks", {"kind": "http", "url": url, "events": list(events)},
                     action="/webhooks/add")


def secret_in(page: str) -> str | None:
    match = re.search(r'id="new-secret" class="secret" readonly value="(whsec_[^"]+)"', page)
    return match.group(1) if match else None


def test_adding_an_endpoint_shows_its_secret_once(app, logged_in, receiver):
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = "1"
    response = add_through_form(logged_in, receiver.url("/hook"))
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and response.headers["Cache-Control"] == "no-store"
    secret = secret_in(page)
    assert secret and "shown only this once" in page
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    assert endpoint.events == ["message.received", "optout.created"]
    assert secret not in (endpoint.encrypted_secret or "")  # encrypted at rest
    again = logged_in.get(f"/webhooks/{endpoint.id}").get_data(as_text=True)
    assert secret_in(again) is None and secret not in again
    # a new secret is shown once too, and differs
    rotated = post_form(logged_in, f"/webhooks/{endpoint.id}", {}, action=f"/webhooks/{endpoint.id}/rotate")
    new_secret = secret_in(rotated.get_data(as_text=True))
    assert new_secret and new_secret != secret
    assert "The old one still signs for 24 hours" in rotated.get_data(as_text=True)


def test_a_private_url_is_refused_with_the_reason(logged_in):
    response = add_through_form(logged_in, "http://localhost:9/hook")
    page = html.unescape(response.get_data(as_text=True))
    assert response.status_code == 400
    assert "SMS Desk will not post to this URL: localhost resolves to" in page
    assert db.session.scalars(select(WebhookEndpoint)).all() == []
    response = add_through_form(logged_in, "https://example.org/hook", events=())
    assert "Choose at least one event." in response.get_data(as_text=True)


def test_the_log_shows_each_attempt_and_its_buttons_resend_and_test(app, logged_in, user, receiver):
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = "1"
    receiver.reply = lambda: __import__("werkzeug.wrappers", fromlist=["Response"]).Response("thanks " * 300)
    add_through_form(logged_in, receiver.url("/hook"))
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    opt_outs.record(user.id, "+33698765432", OptOut.MANUAL)
    webhooks.dispatch()
    run_queued_jobs()
    page = logged_in.get(f"/webhooks/{endpoint.id}").get_data(as_text=True)
    assert "optout.created" in page and "attempt 1" in page and ">200<" in page
    answer = re.search(r"<pre[^>]*>(thanks[^<]*)</pre>", page).group(1)
    assert len(answer) == 1024  # the first 1 KB of the answer
    delivery = db.session.scalars(select(WebhookDelivery)).one()
    post_form(logged_in, f"/webhooks/{endpoint.id}", {},
              action=f"/webhooks/{endpoint.id}/deliveries/{delivery.id}/resend")
    post_form(logged_in, f"/webhooks/{endpoint.id}", {}, action=f"/webhooks/{endpoint.id}/test")
    run_queued_jobs()
    received = receiver.wait_for(3)
    assert received[0]["headers"]["Webhook-Id"] == received[1]["headers"]["Webhook-Id"]
    assert b'"type":"webhook.test"' in received[2]["body"]
    page = logged_in.get(f"/webhooks/{endpoint.id}").get_data(as_text=True)
    assert page.count("data-attempt=") == 3 and "webhook.test" in page


def test_the_python_example_of_the_page_verifies_a_real_delivery(app, logged_in, user, receiver):
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = "1"
    secret = secret_in(add_through_form(logged_in, receiver.url("/hook")).get_data(as_text=True))
    opt_outs.record(user.id, "+33698765432", OptOut.MANUAL)
    webhooks.dispatch()
    run_queued_jobs()
    [request] = receiver.wait_for(1)
    page = logged_in.get("/webhooks").get_data(as_text=True)
    example = html.unescape(re.search(r'<pre class="code-example" data-example="python">(.*?)</pre>', page,
                                      re.S).group(1))
    namespace = {}
    exec(example, namespace)  # noqa: S102 (the page's own example, run as a user would)
    headers = {name.lower(): value for name, value in request["headers"].items()}
    assert namespace["verify"](secret, headers, request["body"])
    assert not namespace["verify"](secret, headers, request["body"] + b" ")
    assert not namespace["verify"](webhooks.new_secret(), headers, request["body"])



def serve_php(folder, script: str):
    """PHP's own web server running script, and the URL it answers at."""
    if shutil.which("php") is None:
        pytest.skip("php is not installed (.ci/run installs php-cli)")
    (folder / "hook.php").write_text(script)
    port = free_port()
    server = subprocess.Popen(["php", "-S", f"127.0.0.1:{port}", "hook.php"], cwd=folder,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(lambda: port_open(port), timeout=10, message="php -S")
    return server, f"http://127.0.0.1:{port}/hook"


def port_open(port: int) -> bool:
    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) == 0


def test_the_php_example_of_the_page_accepts_a_real_delivery_and_refuses_another_secret(
        app, logged_in, user, tmp_path):
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = "1"
    page = logged_in.get("/webhooks").get_data(as_text=True)
    example = html.unescape(re.search(r'<pre class="code-example" data-example="php">(.*?)</pre>', page,
                                      re.S).group(1))
    # the user pastes their secret where the example says whsec_…; here it is read from a file written once known
    server, url = serve_php(tmp_path, example.replace("'whsec_…'", "trim(file_get_contents(__DIR__ . '/secret'))"))
    try:
        statuses = []
        for secret_pasted in ("the endpoint's", "another"):
            secret = secret_in(add_through_form(logged_in, url).get_data(as_text=True))
            (tmp_path / "secret").write_text(secret if secret_pasted == "the endpoint's" else webhooks.new_secret())
            endpoint = db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id.desc())).first()
            post_form(logged_in, f"/webhooks/{endpoint.id}", {}, action=f"/webhooks/{endpoint.id}/test")
            run_queued_jobs()
            attempt = db.session.scalars(select(WebhookAttempt).where(WebhookAttempt.endpoint_id == endpoint.id)).one()
            statuses.append((attempt.http_status, attempt.delivered))
    finally:
        server.terminate()
        server.wait()
    assert statuses == [(204, True), (400, False)]


def test_an_https_endpoint_gets_its_delivery_when_its_certificate_is_trusted_and_a_reason_when_not(
        app, logged_in, user, tmp_path, monkeypatch):
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = "1"
    authority = trustme.CA()
    tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    authority.issue_cert("localhost").configure_cert(tls)
    receiver = Receiver(reply_status=200, tls=tls)
    try:
        authority.cert_pem.write_to_path(str(tmp_path / "authority.pem"))
        outcomes = []
        for trusted in (True, False):
            # what the machine trusts: its system's authorities, or here the test's own
            monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "authority.pem") if trusted else str(tmp_path / "none"))
            add_through_form(logged_in, receiver.url("/hook"))
            endpoint = db.session.scalars(select(WebhookEndpoint).order_by(WebhookEndpoint.id.desc())).first()
            post_form(logged_in, f"/webhooks/{endpoint.id}", {}, action=f"/webhooks/{endpoint.id}/test")
            run_queued_jobs()
            outcomes.append(db.session.scalars(select(WebhookAttempt)
                                              .where(WebhookAttempt.endpoint_id == endpoint.id)).one())
        assert receiver.received[0]["url"].startswith("https://localhost:")
        assert b'"type":"webhook.test"' in receiver.received[0]["body"]
        assert (outcomes[0].http_status, outcomes[0].delivered) == (200, True)
        assert len(receiver.received) == 1 and not outcomes[1].delivered
        page = logged_in.get(f"/webhooks/{endpoint.id}").get_data(as_text=True)
        assert "the secure connection failed (SSLCertVerificationError)" in html.unescape(page)
    finally:
        receiver.close()

@pytest.fixture
def bobs_endpoint(app):
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = "1"
    bob = make_user("bob@example.org")
    endpoint = webhooks.add_endpoint(bob.id, WebhookEndpoint.HTTP, ["optout.created"],
                                     url="http://127.0.0.1:9/bobs-secret-hook").endpoint
    opt_outs.record(bob.id, "+33698765432", OptOut.MANUAL)
    webhooks.dispatch()
    return endpoint, db.session.scalars(select(WebhookDelivery)).one()


def test_another_users_endpoint_and_log_answer_404(app, logged_in, user, bobs_endpoint):
    endpoint, delivery = bobs_endpoint
    assert "bobs-secret-hook" not in logged_in.get("/webhooks").get_data(as_text=True)
    assert logged_in.get(f"/webhooks/{endpoint.id}").status_code == 404
    token = csrf_token_from(logged_in.get("/webhooks").get_data(as_text=True))
    for action in ("rotate", "enable", "disable", "delete", "test", f"deliveries/{delivery.id}/resend", "events"):
        response = logged_in.post(f"/webhooks/{endpoint.id}/{action}", data={"csrf_token": token,
                                                                            "events": ["message.received"]})
        assert response.status_code == 404, action
    # Ada's own endpoint does not open Bob's delivery either
    mine = webhooks.add_endpoint(user.id, WebhookEndpoint.HTTP, ["optout.created"], url="http://127.0.0.1:9/")
    response = logged_in.post(f"/webhooks/{mine.endpoint.id}/deliveries/{delivery.id}/resend",
                              data={"csrf_token": token})
    assert response.status_code == 404
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).events == ["optout.created"]
    assert len(db.session.scalars(select(WebhookDelivery)).all()) == 1


def test_the_pages_need_a_signed_in_user(client, user):
    for path in ("/webhooks", "/webhooks/1"):
        response = client.get(path)
        assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_the_pages_speak_french(app, client, user):
    app.config["WEBHOOK_ALLOW_PRIVATE_ADDRESSES"] = "1"
    login(client, user)
    french = {"headers": {"Accept-Language": "fr"}}
    page = client.get("/webhooks", **french).get_data(as_text=True)
    assert "Ajouter un point de terminaison" in page and "Vérifier la signature en Python" in page
    endpoint = webhooks.add_endpoint(user.id, WebhookEndpoint.HTTP, ["optout.created"],
                                     url="http://127.0.0.1:9/").endpoint
    page = client.get(f"/webhooks/{endpoint.id}", **french).get_data(as_text=True)
    assert "Journal des envois" in page and "Envoyer un événement de test" in page
