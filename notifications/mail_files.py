"""Mail written to files, one log line each: the backend wherever no mail server is configured.

Django's console backend printed every message whole, raw MIME with the customer's address and
order, into the log; its file backend says nothing. This one is the file backend
(``EMAIL_FILE_PATH``, ``var/mail`` on the embedded defaults: one file per connection, messages
separated as Django separates them, so ``bench/harness/mails.py`` reads them) plus one
``mail_written`` line per message naming the file it went to. The subject is the only part of
the mail the line carries (with the number of recipients), masked like any other text.
"""

from __future__ import annotations

import structlog
from django.core.mail import EmailMessage
from django.core.mail.backends.filebased import EmailBackend

logger = structlog.get_logger(__name__)


class MailFileBackend(EmailBackend):
    def write_message(self, message: EmailMessage) -> None:
        super().write_message(message)
        logger.info(
            "mail_written",
            path=self.stream.name,
            subject=message.subject,
            recipients=len(message.recipients()),
        )
