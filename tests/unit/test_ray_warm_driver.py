"""The warm Ray driver's key, folder and framing (no cluster needed)."""

from __future__ import annotations

import os
import socket
import threading
import time
from pathlib import Path

import pytest

from gyre.errors import ComputeUnavailable
from gyre.pipelines.executors.ray import warm_driver as ray_warm_driver
from gyre.pipelines.executors.ray.warm_driver import driver_key, receive, send


def _touch(path: Path, text: str) -> None:
    path.write_text(text)
    stat = path.stat()
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))  # a later mtime


def test_the_key_follows_the_projects_modules_and_not_its_data(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pipeline.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "helper.py").write_text("y = 1\n")
    (tmp_path / "data.csv").write_text("a\n1\n")
    first = driver_key("127.0.0.1:6379", tmp_path)
    assert first == driver_key("127.0.0.1:6379", tmp_path)
    _touch(tmp_path / "data.csv", "a\n2\n")
    (tmp_path / ".gyre").mkdir()
    (tmp_path / ".gyre" / "state.py").write_text("")  # the workspace is not the project's code
    assert driver_key("127.0.0.1:6379", tmp_path) == first
    _touch(tmp_path / "pkg" / "helper.py", "y = 2\n")
    second = driver_key("127.0.0.1:6379", tmp_path)
    assert second != first
    (tmp_path / "pkg" / "new_module.py").write_text("")
    assert driver_key("127.0.0.1:6379", tmp_path) not in (first, second)
    assert driver_key("127.0.0.1:6380", tmp_path) != driver_key("127.0.0.1:6379", tmp_path)


def test_a_project_of_too_many_modules_gets_no_warm_driver(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(ray_warm_driver, "MAX_FILES", 3)
    for i in range(4):
        (tmp_path / f"m{i}.py").write_text("")
    assert driver_key("auto", tmp_path) is None


def test_ray_client_addresses_and_the_switch_turn_it_off(monkeypatch: pytest.MonkeyPatch) -> None:
    assert ray_warm_driver.enabled("127.0.0.1:6379")
    assert not ray_warm_driver.enabled("ray://head:10001")
    monkeypatch.setenv("GYRE_RAY_WARM_DRIVER", "0")
    assert not ray_warm_driver.enabled("127.0.0.1:6379")


def test_a_socket_folder_others_can_enter_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    assert ray_warm_driver.runtime_dir().stat().st_mode & 0o777 == 0o700
    (tmp_path / f"gyre-{os.getuid()}").chmod(0o777)
    with pytest.raises(ComputeUnavailable, match="must belong to you and be private"):
        ray_warm_driver.runtime_dir()


def test_messages_arrive_whole_and_a_cut_message_is_an_error() -> None:
    left, right = socket.socketpair()
    big = {"spec": "x" * 300_000, "n": [1, 2.5, None]}  # more than one read's worth
    sender = threading.Thread(target=send, args=(left, big))
    sender.start()
    assert receive(right) == big
    sender.join()
    left.sendall(b"\0\0\0\0\0\0\0\x10abc")  # promises 16 bytes, sends 3
    left.close()
    with pytest.raises(ComputeUnavailable, match="closed mid-message"):
        receive(right)
    assert receive(right) is None  # and then the end
    right.close()


def test_what_ended_drivers_left_is_swept_after_a_day(tmp_path: Path) -> None:
    old = time.time() - ray_warm_driver.STALE_S - 60
    for name in ("ray-a-1.lock", "ray-a-1.log", "ray-a-2.lock", "ray-a-3.lock"):
        (tmp_path / name).write_text("")
    for name in ("ray-a-1.lock", "ray-a-1.log", "ray-a-2.lock"):
        os.utime(tmp_path / name, (old, old))
    (tmp_path / "ray-a-2.sock").write_text("")  # a driver still serving
    ray_warm_driver._sweep(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "ray-a-2.lock",
        "ray-a-2.sock",
        "ray-a-3.lock",
    ]
