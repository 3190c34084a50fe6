"""``ChannelListener``: the reader gets what is published on its channel; close stops the reader and the subscription."""

from __future__ import annotations

import asyncio

from headway.backends import ChannelListener, LocalBackend, Subscription


async def test_a_listener_reads_its_channel_until_closed_then_stops_reader_and_subscription() -> None:
    backend = LocalBackend()
    heard: list[bytes] = []
    got = asyncio.Event()
    finished: list[str] = []

    async def follow(subscription: Subscription) -> None:
        try:
            async for message in subscription:
                heard.append(message)
                got.set()
        finally:
            finished.append(asyncio.current_task().get_name())  # type: ignore[union-attr]

    listener = ChannelListener(backend, "wakeups", follow, name="headway-test-listener")
    await backend.publish("elsewhere", b"not for it")
    await backend.publish("wakeups", b"rev_1")
    await asyncio.wait_for(got.wait(), 10)
    assert heard == [b"rev_1"]
    await listener.close()
    assert finished == ["headway-test-listener"]  # close returned after the reader ended
    assert listener.subscription.closed
    await backend.publish("wakeups", b"rev_2")  # nobody is subscribed any more
    await asyncio.sleep(0)
    assert heard == [b"rev_1"]
