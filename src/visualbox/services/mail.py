"""Outgoing mail: one :class:`Mailer` and the messages that carry one-time links.

With ``mail.smtp_host`` set, :meth:`Mailer.send` delivers through SMTP (smtplib;
STARTTLS with certificate checks when ``smtp_starttls``; login when ``smtp_username``)
in a worker thread with an overall deadline of ``smtp_timeout_s``. Without it, nothing is sent: the
message's link is written as ONE line to the ``visualbox.mail`` logger at INFO, so
that a server without mail still works (the operator copies the link from the
log). That log line is the only place a link or token is ever logged.
"""

from __future__ import annotations

import contextlib
import logging
import smtplib
import ssl
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import make_msgid
from typing import Literal

from visualbox.errors import Unavailable
from visualbox.settings import MailSettings, Settings

log = logging.getLogger("visualbox.mail")

LinkPurpose = Literal["verify", "reset", "change_email"]


@dataclass(frozen=True)
class Message:
    """A rendered mail: subject, plain text body and the link it carries."""

    subject: str
    text: str
    link: str


def link_message(purpose: LinkPurpose, name: str, link: str) -> Message:
    """Render the mail for a one-time link (the single place these texts live)."""
    if purpose == "verify":
        subject = "Verify your VisualBox email address"
        body = (
            "Welcome to VisualBox! Confirm that this address is yours by opening this link "
            "(it works once, for 48 hours):"
        )
    elif purpose == "reset":
        subject = "Reset your VisualBox password"
        body = (
            "Someone (hopefully you) asked to reset your VisualBox password. Choose a new "
            "one at this link (it works once, for 1 hour):"
        )
    else:
        subject = "Confirm your new VisualBox email address"
        body = (
            "Confirm that your VisualBox account should use this address from now on by "
            "opening this link (it works once, for 48 hours):"
        )
    footer = "If you did not ask for this, ignore this mail: nothing changes."
    return Message(subject, f"Hello {name},\n\n{body}\n\n{link}\n\n{footer}\n", link)


class Mailer:
    """Sends mail through SMTP, or writes links to the log when no server is set."""

    def __init__(self, settings: MailSettings) -> None:
        self.settings = settings
        self._background: ThreadPoolExecutor | None = None

    @property
    def configured(self) -> bool:
        """True when mail really leaves the server (an SMTP host is set)."""
        return bool(self.settings.smtp_host)

    def send(self, to: str, subject: str, text: str, *, link: str | None = None) -> None:
        """Deliver one plain-text mail.

        Without SMTP, logs ``link`` (or only the subject when there is no link) and
        returns. Raises :class:`~visualbox.errors.Unavailable` when the SMTP server
        refuses the mail, cannot be reached, or does not finish in time.
        """
        if not self.configured:
            if link is not None:
                log.info("Mail to %s not sent (no SMTP server configured): %s", to, link)
            else:
                log.info("Mail to %s not sent (no SMTP server configured): %s", to, subject)
            return
        message = EmailMessage()
        message["From"] = self.settings.sender
        message["To"] = to
        message["Subject"] = subject
        message["Message-ID"] = make_msgid(domain="visualbox")
        message.set_content(text)
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="visualbox-mail")
        try:
            pool.submit(self._deliver, message).result(timeout=self.settings.smtp_timeout_s)
        except (FutureTimeout, TimeoutError):
            # Whichever deadline fires first, the overall one or the socket's, the user
            # is told the same thing.
            log.warning("Mail to %s not sent: the SMTP server did not answer in time", to)
            raise Unavailable("The mail server did not answer in time; try again later.") from None
        except (OSError, smtplib.SMTPException) as exc:
            log.warning("Mail to %s not sent: %s", to, type(exc).__name__)
            raise Unavailable("The mail could not be sent; try again later.") from None
        finally:
            # The worker ends on its own: every socket operation has the same timeout.
            pool.shutdown(wait=False)

    def send_link(self, to: str, purpose: LinkPurpose, name: str, link: str) -> None:
        """Render and send the mail for a one-time link (see :func:`link_message`)."""
        message = link_message(purpose, name, link)
        self.send(to, message.subject, message.text, link=message.link)

    def send_link_later(self, to: str, purpose: LinkPurpose, name: str, link: str) -> None:
        """Like :meth:`send_link`, but without waiting for the SMTP server.

        For answers that must not depend on whether a mail was sent (a slow
        delivery would tell that the address has an account). Failures are logged.
        """
        if not self.configured:
            self.send_link(to, purpose, name, link)
            return
        if self._background is None:
            self._background = ThreadPoolExecutor(
                max_workers=2, thread_name_prefix="visualbox-mail-later"
            )
        self._background.submit(self._send_quietly, to, purpose, name, link)

    def _send_quietly(self, to: str, purpose: LinkPurpose, name: str, link: str) -> None:
        with contextlib.suppress(Unavailable):  # already logged by send()
            self.send_link(to, purpose, name, link)

    def _deliver(self, message: EmailMessage) -> None:
        s = self.settings
        assert s.smtp_host is not None
        with smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=s.smtp_timeout_s) as smtp:
            if s.smtp_starttls:
                smtp.starttls(context=ssl.create_default_context())
            if s.smtp_username:
                smtp.login(s.smtp_username, s.smtp_password or "")
            smtp.send_message(message)


def mailer_for(settings: Settings) -> Mailer:
    """The mailer an app built from ``settings`` uses (``app.state.mailer``)."""
    return Mailer(settings.mail)
