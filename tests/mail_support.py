"""A real SMTP server on a local port (aiosmtpd), and what it received, for the password reset tests."""
import email
import re
import threading
from email import policy

import pytest
from aiosmtpd.controller import Controller

from .conftest import free_port


class Mailbox:
    """What the local SMTP server received, parsed; `url` is the SMTP_URL that reaches it."""

    def __init__(self):
        self.messages = []
        self.lock = threading.Lock()
        self.url = None

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
        return "250 OK"

    def received(self):
        with self.lock:
            return list(self.messages)


@pytest.fixture
def smtp_server():
    mailbox = Mailbox()
    controller = Controller(mailbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    mailbox.url = f"smtp://127.0.0.1:{controller.port}"
    yield mailbox
    controller.stop()


def reset_link_in(message) -> str:
    body = message.get_body(("plain",)).get_content()
    return re.search(r"http://\S+/reset-password/\S+", body).group(0)
