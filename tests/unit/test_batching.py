"""Where the micro-batcher predicts: on the event loop or on a worker thread.

Real event loops and threads; the path chooser's own tests drive it with a made-up clock, so
they say what it decides, not how fast this machine is.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
from collections.abc import Callable

import numpy as np

from gyre.serving.batching import INLINE, THREAD, MicroBatcher, PathChooser


def _serve(batcher: MicroBatcher, requests: int) -> None:
    async def go() -> None:
        for _ in range(requests):  # one at a time: each is its own batch
            await batcher.submit(np.zeros((1, 3)))
        await batcher.close()

    asyncio.run(go())


def test_a_fast_model_is_predicted_on_the_event_loop_after_its_cold_first_call() -> None:
    threads: list[int] = []
    loop_thread = threading.get_ident()

    def predict(rows: np.ndarray) -> np.ndarray:
        threads.append(threading.get_ident())
        return np.zeros(len(rows))

    batcher = MicroBatcher(predict, max_batch=64, max_wait_s=0.005)
    _serve(batcher, 20)

    assert threads[0] != loop_thread  # the first call may be slow (imports, caches)
    assert threads[1:] == [loop_thread] * 19
    assert batcher.batches_by_path == {INLINE: 19, THREAD: 1}


def test_a_slow_model_is_predicted_on_a_thread_and_the_loop_keeps_serving() -> None:
    loop_turned = threading.Event()
    saw_the_loop_turn: list[bool] = []

    def predict(rows: np.ndarray) -> np.ndarray:
        loop_turned.clear()
        # Only the event loop sets the event: were this call on the loop, it would wait out
        # the timeout and find it unset (and take longer than the latency cap).
        saw_the_loop_turn.append(loop_turned.wait(timeout=2))
        return np.zeros(len(rows))

    async def meanwhile() -> None:
        while True:
            loop_turned.set()
            await asyncio.sleep(0.001)

    batcher = MicroBatcher(predict, max_batch=64, max_wait_s=0.005, latency_cap_s=0.0)

    async def go() -> None:
        ticker = asyncio.ensure_future(meanwhile())
        for _ in range(5):
            await batcher.submit(np.zeros((1, 3)))
        ticker.cancel()
        await batcher.close()

    asyncio.run(go())
    assert saw_the_loop_turn == [True] * 5
    assert batcher.batches_by_path == {INLINE: 0, THREAD: 5}


def _simulate(
    chooser: PathChooser, seconds_per_batch: Callable[[str, float], float], batches: int
) -> list[str]:
    """Batches of 10 rows back to back; each call costs 2 ms (between the limits)."""
    now, paths = 0.0, []
    for _ in range(batches):
        path = chooser.choose(now, 10)
        chooser.record(path, 0.002)
        paths.append(path)
        now += seconds_per_batch(path, now)
    return paths


def test_the_path_that_serves_more_rows_per_second_takes_over() -> None:
    chooser = PathChooser(inline_limit_s=0.0005, latency_cap_s=0.05)

    paths = _simulate(chooser, lambda path, _: 0.010 if path == INLINE else 0.004, 2_000)

    assert chooser.path == THREAD
    assert chooser.switches == 1
    assert paths[-500:].count(THREAD) >= 400  # the loop is still tried now and then


def test_a_path_that_keeps_losing_is_tried_less_and_less_often() -> None:
    chooser = PathChooser(inline_limit_s=0.0005, latency_cap_s=0.05)

    paths = _simulate(chooser, lambda path, _: 0.004 if path == INLINE else 0.010, 12_000)

    assert chooser.path == INLINE
    assert chooser.switches == 0
    tries = sum(1 for a, b in itertools.pairwise(paths) if (a, b) == (INLINE, THREAD))
    assert 3 <= tries <= 8  # ~60 s of batches: probes after 2, 4, 8, 16, 32, 32 s ...
    assert paths.count(THREAD) / len(paths) < 0.05


def test_load_rising_during_a_try_does_not_switch_paths() -> None:
    # Both paths serve alike, but the load doubles every 2 s of simulated time: the path tried
    # looks better than the window before it, not than the one after.
    chooser = PathChooser(inline_limit_s=0.0005, latency_cap_s=0.05)

    _simulate(chooser, lambda _, now: 0.010 / 2 ** min(now // 2.0, 4), 3_000)

    assert chooser.switches == 0


def test_calls_past_the_latency_cap_never_run_on_the_loop() -> None:
    chooser = PathChooser(inline_limit_s=0.0005, latency_cap_s=0.015)
    now, paths = 0.0, []
    for _ in range(500):
        path = chooser.choose(now, 10)
        chooser.record(path, 0.02)
        paths.append(path)
        now += 0.02
    assert paths == [THREAD] * 500


def test_a_model_that_raises_fails_every_request_of_its_batch_and_the_batcher_goes_on() -> None:
    calls = 0

    def predict(rows: np.ndarray) -> np.ndarray:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise ValueError("bad rows")
        return np.ones(len(rows))

    batcher = MicroBatcher(predict, max_batch=64, max_wait_s=0.005)

    async def go() -> list[object]:
        results: list[object] = []
        for _ in range(3):
            try:
                results.append((await batcher.submit(np.zeros((2, 3)))).tolist())
            except ValueError as exc:
                results.append(str(exc))
        await batcher.close()
        return results

    assert asyncio.run(go()) == [[1.0, 1.0], "bad rows", [1.0, 1.0]]


def test_versions_sharing_a_batcher_are_predicted_in_one_batch_each_by_its_own_model() -> None:
    """A traffic split's versions (and a shadow) share their model's batcher through lanes:
    rows that arrive together make one batch, each version's rows go to its own predict, each
    journal gets its lines in one write, and one version's error reaches only its requests."""
    from gyre.serving.batching import Lane

    calls: list[tuple[str, int]] = []

    def model(name: str, fails: bool = False) -> Callable[[np.ndarray], np.ndarray]:
        def predict(rows: np.ndarray) -> np.ndarray:
            calls.append((name, len(rows)))
            if fails:
                raise ValueError(f"{name} failed")
            return np.full(len(rows), float(name[1:]))

        return predict

    written: dict[str, list[tuple[int, int]]] = {"live": [], "shadow": []}
    batcher = MicroBatcher(model("v0"), max_batch=64, max_wait_s=0.005)
    seven, eight, nine = (
        Lane(batcher, model("v7")),
        Lane(batcher, model("v8")),
        Lane(batcher, model("v9", fails=True)),
    )
    seven.write_lines = eight.write_lines = lambda lines, rows: written["live"].append(
        (len(lines), rows)
    )
    nine.write_lines = lambda lines, rows: written["shadow"].append((len(lines), rows))

    async def go() -> list[object]:
        def line(predictions: np.ndarray) -> bytes:
            return b"%d\n" % len(predictions)

        requests = [
            seven.submit_journaled(np.zeros((2, 3)), line),
            eight.submit_journaled(np.zeros((1, 3)), line),
            seven.submit_journaled(np.zeros((1, 3)), line),
            nine.submit_journaled(np.zeros((1, 3)), line),
        ]
        answers = await asyncio.gather(*requests, return_exceptions=True)
        for lane in (seven, eight, nine):
            await lane.close()
        return list(answers)

    answers = asyncio.run(go())
    # The cold first call goes to a thread; then one batch: v7's 3 rows, v8's, v9's.
    assert calls == [("v7", 3), ("v8", 1), ("v9", 1)]
    assert [a[0].tolist() for a in answers[:3]] == [[7.0, 7.0], [8.0], [7.0]]  # type: ignore[index]
    assert isinstance(answers[3], ValueError) and "v9 failed" in str(answers[3])
    assert written == {"live": [(3, 4)], "shadow": []}  # one write for the split's three lines
    assert (seven.batches, eight.batches, nine.batches) == (1, 1, 0)
    assert batcher.batches == 1 and batcher.closed  # closed with its last lane
