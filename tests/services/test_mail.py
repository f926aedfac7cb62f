"""The mailer against a real SMTP server on loopback, and its log fallback."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from tests.fixtures.smtp import SmtpServer, running_smtp
from visualbox.errors import Unavailable
from visualbox.services.mail import LinkPurpose, Mailer, link_message, mailer_for
from visualbox.settings import MailSettings, Settings


def _mailer(server: SmtpServer, **changes: object) -> Mailer:
    fields: dict[str, object] = {
        "smtp_host": server.host,
        "smtp_port": server.port,
        "smtp_starttls": False,
        "sender": "VisualBox <vb@example.com>",
    }
    fields.update(changes)
    return Mailer(MailSettings.model_validate(fields))


def test_send_delivers_a_plain_text_mail(smtp: SmtpServer) -> None:
    _mailer(smtp).send("ada@example.com", "Hello", "Line one\nLine two\n")
    [message] = smtp.wait_for(1)
    assert message["From"] == "VisualBox <vb@example.com>"
    assert message["To"] == "ada@example.com"
    assert message["Subject"] == "Hello"
    assert message["Message-ID"]
    assert message.get_content() == "Line one\nLine two\n"
    assert smtp.envelopes == [("vb@example.com", ["ada@example.com"])]


def test_send_link_renders_each_purpose_with_its_link(smtp: SmtpServer) -> None:
    mailer = _mailer(smtp)
    subjects = []
    purposes: tuple[LinkPurpose, ...] = ("verify", "reset", "change_email")
    for n, purpose in enumerate(purposes):
        link = f"http://localhost:8000/page?token=t{n}"
        mailer.send_link("ada@example.com", purpose, "Ada", link)
        assert smtp.link(n) == link
        subjects.append(smtp.messages[n]["Subject"])
    assert len(set(subjects)) == 3
    assert "Hello Ada" in smtp.messages[0].get_content()


def test_login_is_used_when_a_username_is_set() -> None:
    with running_smtp(("mailer", "s3cret")) as server:
        _mailer(server, smtp_username="mailer", smtp_password="s3cret").send(
            "a@example.com", "S", "T"
        )
        server.wait_for(1)
        assert server.logins == ["mailer"]


def test_a_refused_login_is_unavailable() -> None:
    with running_smtp(("mailer", "s3cret")) as server:
        mailer = _mailer(server, smtp_username="mailer", smtp_password="wrong")
        with pytest.raises(Unavailable):
            mailer.send("a@example.com", "S", "T")
        assert server.messages == []


def test_starttls_is_required_when_set(smtp: SmtpServer) -> None:
    """A server that does not offer STARTTLS gets no mail in clear text."""
    with pytest.raises(Unavailable):
        _mailer(smtp, smtp_starttls=True).send("a@example.com", "S", "T")
    assert smtp.messages == []


def test_an_unreachable_server_is_unavailable() -> None:
    with socket.socket() as probe:  # a loopback port with nobody listening
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    mailer = Mailer(MailSettings(smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False))
    with pytest.raises(Unavailable):
        mailer.send("a@example.com", "S", "T")


def test_a_silent_server_times_out() -> None:
    """A server that accepts the connection but never greets is given up on in time."""
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        mailer = Mailer(
            MailSettings(
                smtp_host="127.0.0.1", smtp_port=port, smtp_starttls=False, smtp_timeout_s=0.5
            )
        )
        started = time.monotonic()
        with pytest.raises(Unavailable, match="in time"):
            mailer.send("a@example.com", "S", "T")
        assert time.monotonic() - started < 3


def test_without_smtp_the_link_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    mailer = mailer_for(Settings())
    assert not mailer.configured
    with caplog.at_level(logging.INFO, logger="visualbox.mail"):
        mailer.send_link("ada@example.com", "verify", "Ada", "http://h/verify-email?token=abc")
    records = [r for r in caplog.records if r.name == "visualbox.mail"]
    assert len(records) == 1
    assert records[0].levelno == logging.INFO
    line = records[0].getMessage()
    assert "\n" not in line
    assert "http://h/verify-email?token=abc" in line and "ada@example.com" in line


def test_link_message_carries_the_link_in_the_text() -> None:
    message = link_message("reset", "Bob", "https://vb.example.com/reset-password?token=x")
    assert message.link in message.text
    assert "1 hour" in message.text
