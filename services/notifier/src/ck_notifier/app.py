"""The notifier service: queues EmailRequested events as mails and sends them over SMTP."""

from __future__ import annotations

from ck_contracts.topology import PUBLISHERS
from ck_runtime.clock import Clock
from ck_runtime.service import Service, run_service

from ck_notifier.consumers import email_consumer
from ck_notifier.gauges import sample_mails
from ck_notifier.retention import retention_rules
from ck_notifier.sender import mail_sender
from ck_notifier.settings import NotifierSettings, get_settings
from ck_notifier.store import Doorbell


def build(settings: NotifierSettings | None = None, clock: Clock | None = None) -> Service:
    settings = settings or get_settings()
    clock = clock or settings.clock()
    doorbell = Doorbell()  # the consumer rings it after a commit; the sender answers at once
    return Service(
        name="notifier",
        settings=settings,
        clock=clock,
        consumers=(email_consumer(doorbell, clock),),
        background=(mail_sender(doorbell),),
        retention=retention_rules(settings),
        samplers=(sample_mails,),
        publishes=PUBLISHERS["notifier"],
        description="E-mail over SMTP: Dutch templates, retries, a dead letter for operators.",
    )


def main() -> None:
    run_service(build)


if __name__ == "__main__":
    main()
