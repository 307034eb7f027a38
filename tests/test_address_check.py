""""Check my address" on the settings page, through a real HTTPS reverse proxy (trustme's
certificate) in front of the test's live server: each step is reported in words."""
import http.client
import re
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

import pytest
import trustme

from .conftest import free_port, login, make_user, post_form


class ReverseProxy:
    """A TLS server that forwards each GET to `upstream`, its path put under `prefix`."""

    def __init__(self, certificate_authority, upstream: str, prefix: str = ""):
        target = urlsplit(upstream)

        class Forward(BaseHTTPRequestHandler):
            def do_GET(self):
                connection = http.client.HTTPConnection(target.hostname, target.port, timeout=5)
                connection.request("GET", prefix + self.path)
                answer = connection.getresponse()
                body = answer.read()
                self.send_response(answer.status)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                connection.close()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Forward)
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        certificate_authority.issue_cert("localhost", "127.0.0.1").configure_cert(context)
        self.server.socket = context.wrap_socket(self.server.socket, server_side=True)
        self.url = f"https://localhost:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def certificate_authority(tmp_path, monkeypatch):
    authority = trustme.CA()
    ca_file = tmp_path / "ca.pem"
    authority.cert_pem.write_to_path(str(ca_file))
    monkeypatch.setenv("SSL_CERT_FILE", str(ca_file))  # what OpenSSL's default verify paths read
    return authority


@pytest.fixture
def admin_client(client):
    return login(client, make_user("admin@example.org", admin=True))


def check_steps(admin_client, app, address) -> list[str]:
    app.config["PUBLIC_BASE_URL"] = address
    page = post_form(admin_client, "/admin/settings", {}, action="/admin/settings/check").get_data(as_text=True)
    checked = page.split("data-address-check>")[1].split("</ul>")[0]
    return [" ".join(re.sub(r"<[^>]+>", " ", item).split()).replace("&#39;", "'")
            for item in re.findall(r"<li[^>]*>(.*?)</li>", checked, re.S)]


def test_through_the_https_proxy_the_check_reaches_this_install(admin_client, app, live_server,
                                                                 certificate_authority):
    proxy = ReverseProxy(certificate_authority, live_server)
    try:
        steps = check_steps(admin_client, app, proxy.url)
    finally:
        proxy.close()
    assert steps[0].startswith("✓ The name localhost points to ") and "127.0.0.1" in steps[0]
    assert steps[1].startswith("✓ HTTPS certificate valid until ")
    assert steps[2] == "✓ Reached SMS Desk's callback endpoint: it answered the challenge, so this is this install."
    assert steps[3].startswith("ℹ This shows what SMS Desk finds from this server. It cannot prove that a provider")


def test_a_proxy_forwarding_to_the_wrong_path_reached_a_server_but_not_sms_desk(admin_client, app, live_server,
                                                                                  certificate_authority):
    proxy = ReverseProxy(certificate_authority, live_server, prefix="/smsdesk")
    try:
        steps = check_steps(admin_client, app, proxy.url)
    finally:
        proxy.close()
    assert steps[1].startswith("✓ HTTPS certificate valid until ")
    assert steps[2] == ("✗ Reached a server (HTTP 404), but not SMS Desk: check that the web server forwards "
                        "/callbacks/ to SMS Desk unchanged.")


def test_a_refused_connection_is_reported(admin_client, app, certificate_authority):
    port = free_port()
    steps = check_steps(admin_client, app, f"https://127.0.0.1:{port}")
    assert steps[0] == "✓ 127.0.0.1 is an IP address: there is no name to look up."
    assert steps[1] == (f"✗ 127.0.0.1 refused the connection on port {port}: nothing listens there, "
                        "or a firewall refuses it.")
    assert steps[2].startswith("ℹ This shows")


def test_a_certificate_nobody_vouches_for_is_reported(admin_client, app, live_server, certificate_authority,
                                                     monkeypatch):
    proxy = ReverseProxy(trustme.CA(), live_server)  # another authority than the one trusted
    try:
        steps = check_steps(admin_client, app, proxy.url)
    finally:
        proxy.close()
    assert steps[1].startswith("✗ The HTTPS certificate was refused: ")


def test_the_challenge_answer_proves_the_secret_key(client, app):
    from webapp.services.address_check import challenge_answer
    nonce = "n" * 32
    response = client.get(f"/callbacks/check/{nonce}")
    assert response.status_code == 200 and response.get_data(as_text=True) == challenge_answer(nonce)
    app.config["SECRET_KEY"] = "another install"
    assert challenge_answer(nonce) != response.get_data(as_text=True)
    assert client.get("/callbacks/check/short").status_code == 404


def test_an_ordinary_user_cannot_run_the_check(client):
    ordinary = login(client, make_user("ada@example.org"))
    assert post_form(ordinary, "/", {}, action="/admin/settings/check").status_code == 404
