"""Onbestelbare berichten (/beheer/onbestelbare-berichten): the count per dead-letter queue,
read from the real broker, for CJP admins only."""

from __future__ import annotations

import re
from typing import Any

import aio_pika
from ck_contracts.messaging import DEAD_LETTER_EXCHANGE

PAGE = "/beheer/onbestelbare-berichten"


def count_on(page: str, queue: str) -> str:
    match = re.search(rf'data-queue="{re.escape(queue)}">([^<]*)<', page)
    assert match, f"{queue} not on the page"
    return match.group(1)


async def dead_letter(amqp_url: str, queue: str, n: int) -> None:
    connection = await aio_pika.connect(amqp_url)
    async with connection:
        channel = await connection.channel(publisher_confirms=True)
        exchange = await channel.get_exchange(DEAD_LETTER_EXCHANGE)
        for i in range(n):
            await exchange.publish(aio_pika.Message(b"{}", message_id=f"d{i}"), routing_key=queue)


async def test_admins_see_the_counts_and_budget_holders_get_403(stack: Any) -> None:
    await dead_letter(stack.amqp_url, "budget.events.payments", 2)
    async with stack.client() as client:
        await stack.page_login(client, stack.admin_email, stack.admin_password)
        home = await client.get("/")
        page = await client.get(PAGE)
    assert f'href="{PAGE}"' in home.text  # in the admin's menu
    assert page.status_code == 200, page.text
    assert count_on(page.text, "budget.events.payments") == "2"
    assert count_on(page.text, "roster.events.schools") == "0"
    assert "Er staan 2 onbestelbare bericht(en) klaar." in page.text

    school = stack.schools["a"]
    async with stack.client() as client:
        await stack.page_login(client, school.email, school.password)
        home = await client.get("/")
        refused = await client.get(PAGE)
    assert PAGE not in home.text
    assert refused.status_code == 403
    assert "budget.events" not in refused.text
