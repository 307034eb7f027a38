"""E-mail through the server SMTP_URL names: smtp://user:pass@host:587 speaks STARTTLS (required
before a password is sent), smtps://user:pass@host:465 TLS from the start."""
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import make_msgid
from urllib.parse import unquote, urlsplit

from flask import current_app

SMTP_TIMEOUT_SECONDS = 30


class MailNotConfigured(RuntimeError):
    pass


def is_configured() -> bool:
    return bool(current_app.config.get("SMTP_URL"))


def sender_address() -> str:
    """MAIL_FROM, else an address at PUBLIC_BASE_URL's host."""
    from .services.public_address import current_public_base_url
    host = urlsplit(current_public_base_url()).hostname or "localhost"
    return current_app.config.get("MAIL_FROM") or f"SMS Desk <no-reply@{host}>"


def send_mail(to: str, subject: str, body: str) -> None:
    if not is_configured():
        raise MailNotConfigured("SMTP_URL is not set")
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender_address(), to, subject
    message["Message-ID"] = make_msgid()
    message.set_content(body)
    with _connected(urlsplit(current_app.config["SMTP_URL"])) as smtp:
        smtp.send_message(message)


def _connected(url):
    context = ssl.create_default_context()
    if url.scheme == "smtps":
        smtp = smtplib.SMTP_SSL(url.hostname, url.port or 465, timeout=SMTP_TIMEOUT_SECONDS, context=context)
    elif url.scheme == "smtp":
        smtp = smtplib.SMTP(url.hostname, url.port or 587, timeout=SMTP_TIMEOUT_SECONDS)
        smtp.ehlo()
        if smtp.has_extn("starttls"):
            smtp.starttls(context=context)
            smtp.ehlo()
        elif url.username:
            smtp.close()
            raise smtplib.SMTPException("the SMTP server offers no STARTTLS: the password is not sent in clear")
    else:
        raise MailNotConfigured(f"SMTP_URL must start with smtp:// or smtps://, not {url.scheme}://")
    if url.username:
        smtp.login(unquote(url.username), unquote(url.password or ""))
    return smtp
