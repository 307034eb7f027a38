"""A tiny local web server standing for the app in the fakes' own tests: it records each request
the fake's emitters send and answers with `reply`."""
import threading

from werkzeug.serving import WSGIRequestHandler, make_server
from werkzeug.wrappers import Request, Response


class QuietHandler(WSGIRequestHandler):
    def log_request(self, *args, **kwargs):
        pass


class Receiver:
    """tls: an ssl.SSLContext holding the server's certificate, to be reached over HTTPS at `localhost`."""

    def __init__(self, reply_status: int = 204, tls=None):
        self.received = []
        self.reply = lambda: Response(status=reply_status)
        self.arrived = threading.Condition()
        self.scheme, self.host = ("https", "localhost") if tls else ("http", "127.0.0.1")
        self._server = make_server("127.0.0.1", 0, self._wsgi, threaded=True, request_handler=QuietHandler,
                                   ssl_context=tls)
        threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def url(self, path: str) -> str:
        return f"{self.scheme}://{self.host}:{self._server.server_port}{path}"

    def _wsgi(self, environ, start_response):
        request = Request(environ)
        form = request.form.to_dict()  # parsed first: reading the raw body would leave it empty
        with self.arrived:
            self.received.append({
                "method": request.method, "url": request.url, "path": request.path,
                "headers": dict(request.headers), "content_type": request.headers.get("Content-Type"),
                "args": request.args.to_dict(), "query": request.args.to_dict(), "form": form,
                "body": request.get_data()})
            self.arrived.notify_all()
        return self.reply()(environ, start_response)

    def wait_for(self, count: int, timeout: float = 3.0) -> list:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), self.received
        return self.received

    def close(self):
        self._server.shutdown()
        self._server.server_close()
