"""A webhook receiver for the bench: answers 204 at once (HTTP/1.1, keep-alive) and appends each
request's webhook-id to a file, so that what it got survives its own restart.

    python -m bench.webhook_receiver --port N --ids FILE
"""
import argparse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--ids", required=True)
    arguments = parser.parse_args()
    ids = open(arguments.ids, "a", buffering=1)

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            ids.write(self.headers.get("webhook-id", "") + "\n")
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", arguments.port), Handler)
    server.daemon_threads = True
    print("ready", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
