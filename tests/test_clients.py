"""The client pool: one connection pool per server and key, closed when nbstream is unloaded."""

from __future__ import annotations

from nbstream.engine import loop
from nbstream.engine.clients import ClientPool
from nbstream.settings import Settings


def test_a_cells_own_timeout_shares_the_servers_connection_pool(settings: Settings) -> None:
    pool = ClientPool()

    async def two_clients() -> tuple[object, object, float, float]:
        slow, quick = pool.get(settings), pool.get(settings.with_(idle_timeout=1.5))
        return slow._client, quick._client, slow.timeout.read, quick.timeout.read

    first, second, slow_read, quick_read = loop.run(two_clients())
    assert first is second
    assert (slow_read, quick_read) == (settings.idle_timeout, 1.5)


def test_each_request_with_the_same_settings_gets_the_same_client(settings: Settings) -> None:
    # A copy per request would look up the platform off the loop and rebuild the SDK's
    # resources every time: a hop a request, which a gather of 1,000 waited for.
    pool = ClientPool()

    async def three() -> list[object]:
        return [pool.get(settings), pool.get(settings), pool.get(settings.with_(idle_timeout=2))]

    first, again, other_timeout = loop.run(three())
    assert first is again and other_timeout is not first


def test_another_server_or_key_gets_its_own_client(settings: Settings) -> None:
    pool = ClientPool()

    async def clients() -> list[object]:
        other_key = settings.with_(api_key="sk-other-0123456789")
        other_server = settings.with_(base_url="http://127.0.0.1:9/v1")
        return [pool.get(s)._client for s in (settings, other_key, other_server)]

    assert len({id(client) for client in loop.run(clients())}) == 3


def test_closing_the_pool_closes_every_client_and_a_new_request_gets_a_fresh_one(
    settings: Settings,
) -> None:
    pool = ClientPool()

    async def before_and_after() -> tuple[bool, bool, bool]:
        client = pool.get(settings)
        await pool.aclose()
        fresh = pool.get(settings)
        return client.is_closed(), fresh.is_closed(), fresh._client is client._client

    closed, fresh_closed, same = loop.run(before_and_after())
    assert closed and not fresh_closed and not same
