"""Case 3: one huge poll blocks neither the event loop nor the other sources.

A 30,000-item feed used to hold the loop for 132 s: feedparser, matching and
the copy detection of every insert all ran on it, and the whole poll was one
write. Now parsing, matching and recording run on worker threads, a chunk at a
time, so another source's poll gets its turn between chunks.
"""

from __future__ import annotations

import asyncio

from monitor.cli import load_all
from monitor.daemon import Daemon
from monitor.pipeline import CHUNK
from monitor.store import SourceState
from tests.servers import Route, rss

ITEMS = 4000
# Words no shipped rule looks for: the feed costs parsing and recording, not matching.
WORDS = "the harbour board met on monday to discuss pilot rosters and quay lighting".split()


def big_feed() -> bytes:
    return rss(
        [
            {
                "title": f"Story {i}: {' '.join(WORDS[i % 7 : i % 7 + 5])}",
                "link": f"https://news.example/big/{i}",
                "guid": f"big-{i}",
                "description": f"Item {i}: "
                + " ".join(WORDS[(i * k) % len(WORDS)] for k in range(150)),
            }
            for i in range(ITEMS)
        ]
    )


async def poll_both(daemon: Daemon) -> tuple[bool, bool, float]:
    """Poll the big feed and, once it has started, the small folder; watch the loop's lag."""
    loop = asyncio.get_running_loop()
    (big, big_settings), (small, small_settings) = daemon.sources
    lags: list[float] = []

    async def ticker() -> None:
        while True:
            before = loop.time()
            await asyncio.sleep(0.01)
            lags.append(loop.time() - before - 0.01)

    ticking = asyncio.create_task(ticker())
    big_poll = asyncio.create_task(daemon.pipeline.poll(big, big_settings))
    await asyncio.sleep(0.2)  # the big poll is under way
    small_ok = await daemon.pipeline.poll(small, small_settings)
    small_first = not big_poll.done()
    big_ok = await big_poll
    ticking.cancel()
    await daemon.close()
    return small_ok and big_ok, small_first, max(lags)


def test_case03_a_huge_poll_blocks_neither_the_loop_nor_other_sources(workspace, feed_server):
    """Case 3: while a 4,000-item feed is parsed, matched and recorded, the loop keeps ticking
    and a small folder source is polled, matched and recorded before the big poll ends."""
    url = feed_server.add("/big.xml", Route(big_feed()))
    folder = workspace.articles()
    (folder / "one.txt").write_text("Nvidia wins a licence\n\nNvidia said on Monday it won.\n")
    workspace.write_config(
        [
            {"id": "big", "type": "rss", "url": url, "timeout": "60s", "backfill": "all"},
            {"id": "drop", "type": "files", "path": str(folder), "settle": "0s", "backfill": "all"},
        ]
    )
    config, rules = load_all(workspace.config)
    ok, small_first, worst_lag = asyncio.run(poll_both(Daemon(config, rules)))
    assert ok
    assert small_first, "the small source waited for the whole big poll"
    assert worst_lag < 1.0, f"the event loop stalled for {worst_lag:.1f}s"


def test_a_poll_recorded_in_chunks_records_every_item_once(workspace, feed_server):
    """The chunks of a large poll add up: every item recorded, counted, and alerted once."""
    count = 2 * CHUNK + 50
    url = feed_server.add(
        "/many.xml",
        Route(
            rss(
                [
                    {"title": f"Nvidia item {i}", "link": f"https://news.example/n/{i}"}
                    for i in range(count)
                ]
            )
        ),
    )
    workspace.write_config([{"id": "many", "type": "rss", "url": url, "backfill": "all"}])
    config, rules = load_all(workspace.config)

    async def poll_twice() -> tuple[SourceState, dict[str, int], int]:
        daemon = Daemon(config, rules)
        source, settings = daemon.sources[0]
        store = daemon.store
        assert await daemon.pipeline.poll(source, settings)
        state = store.source_state("many")
        assert await daemon.pipeline.poll(source, settings)  # the same body: nothing new
        result = state, store.outbox.counts(), store.article_count()
        await daemon.close()
        return result

    state, outbox, articles = asyncio.run(poll_twice())
    assert articles == count
    assert outbox["pending"] == count
    assert (state.item_count, state.new_count) == (count, count)
