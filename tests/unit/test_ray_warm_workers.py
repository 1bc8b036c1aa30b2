"""Warm Ray workers are best effort: a raylet that does not answer costs nothing but the try."""

from __future__ import annotations

import time

import pytest

from gyre.pipelines.executors.ray import warm_workers as ray_warm_workers
from support.ports import free_port

pytest.importorskip("ray")


def _node(port: int, cpus: float = 2, alive: bool = True) -> dict[str, object]:
    return {
        "Alive": alive,
        "Resources": {"CPU": cpus},
        "NodeManagerAddress": "127.0.0.1",
        "NodeManagerPort": port,
    }


def test_a_raylet_that_does_not_answer_is_skipped_quickly() -> None:
    started = time.monotonic()
    assert ray_warm_workers.prestart([_node(free_port())], used=2) == 0
    assert time.monotonic() - started < ray_warm_workers.RPC_TIMEOUT_S + 1


def test_nothing_is_asked_of_dead_or_cpu_less_nodes_or_when_turned_off(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    asked: list[str] = []
    monkeypatch.setattr("grpc.insecure_channel", asked.append)
    assert ray_warm_workers.prestart([_node(1, alive=False), _node(2, cpus=0)], used=4) == 0
    assert asked == []
    monkeypatch.setenv("GYRE_RAY_WARM_WORKERS", "0")
    assert ray_warm_workers.prestart([_node(3)], used=4) == 0
    assert asked == []
