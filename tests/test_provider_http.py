"""Provider calls honour the environment's proxy settings, read once per host."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from webapp.providers.http import ProviderHttp


class Recorder(BaseHTTPRequestHandler):
    """Answers every GET with {"via": name}; what it was asked for goes to server.paths."""
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        self.server.paths.append(self.path)
        body = json.dumps({"via": self.server.name}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def server_named():
    servers = []

    def start(name):
        server = ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
        server.name, server.paths = name, []
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return server
    yield start
    for server in servers:
        server.shutdown()
        server.server_close()


def test_calls_go_through_the_environments_proxy_except_to_hosts_it_excludes(monkeypatch, server_named):
    proxy, provider = server_named("proxy"), server_named("provider")
    monkeypatch.setenv("HTTP_PROXY", f"http://127.0.0.1:{proxy.server_port}")
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    for name in ("http_proxy", "no_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    http = ProviderHttp()
    for _ in range(2):  # the second call uses the settings read for the first
        assert http.request("GET", "http://sms.provider.test/status.json").json() == {"via": "proxy"}
        assert http.request("GET", f"http://127.0.0.1:{provider.server_port}/status.json").json() == {
            "via": "provider"}
    assert proxy.paths == ["http://sms.provider.test/status.json"] * 2
    assert provider.paths == ["/status.json"] * 2
