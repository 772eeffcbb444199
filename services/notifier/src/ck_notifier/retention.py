"""What the notifier erases and deletes once its time is up (ck_runtime.retention, R-AVG-2).

A mail's recipient, subject and bodies are personal data. A sent mail loses them the moment the
SMTP server accepts it (store.mark_sent). A mail that failed for good keeps them for
`failed_mail_retention_days` (default 7), the operator's time to fix the cause and replay it;
then they are erased and the row stays listed as failed (id, template, tries, the error with
addresses masked), no longer replayable. Rows of sent mails and erased failed mails are deleted
after `mail_record_retention_days` (default 30, at least as long as the inbox's window: a
mail's id is what keeps a batch that arrives again from becoming a second mail).

Pending mails are never touched: a mail waits at most max_attempts tries (about an hour and a
half with the defaults) before it is sent or failed.
"""

from __future__ import annotations

from datetime import timedelta

from ck_runtime.retention import RetentionRule, delete_expired, erase_expired
from sqlalchemy import or_

from ck_notifier.settings import NotifierSettings
from ck_notifier.tables import MailStatus, outgoing_mails

T = outgoing_mails.c
_CONTENT = ("recipient", "subject", "text_body", "html_body")


def retention_rules(settings: NotifierSettings) -> list[RetentionRule]:
    return [
        # A failed mail's next_attempt_at is the moment it failed for good (domain.after_failure).
        erase_expired(
            "outgoing_mails.failed_content",
            outgoing_mails,
            T.next_attempt_at,
            lambda: timedelta(days=settings.failed_mail_retention_days),
            dict.fromkeys(_CONTENT),
            T.status == MailStatus.FAILED,
            or_(*(T[c].is_not(None) for c in _CONTENT)),
        ),
        delete_expired(
            "outgoing_mails.sent",
            outgoing_mails,
            T.sent_at,
            lambda: timedelta(days=settings.mail_record_retention_days),
            T.status == MailStatus.SENT,
        ),
        delete_expired(
            "outgoing_mails.failed",
            outgoing_mails,
            T.next_attempt_at,
            lambda: timedelta(days=settings.mail_record_retention_days),
            T.status == MailStatus.FAILED,
            T.recipient.is_(None),
        ),
    ]
