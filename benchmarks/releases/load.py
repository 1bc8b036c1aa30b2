"""A lean closed-loop load generator: CLIENTS keep-alive connections, each posting the same
JSON body to one URL as soon as its previous answer is in; every request is recorded.

    python load.py URL BODY_FILE OUT_FILE [--clients 32] [--version-header NAME]

It runs until it reads a line (or end of file) on stdin, then writes OUT_FILE: one line per
request, ``start latency status version`` (start: wall-clock seconds, ``time.time()``, so it
lines up with the audit log; latency: seconds, from writing the request to reading the whole
answer; status: the HTTP status, or 0 for a client error: a refused or dropped connection or a
timeout; version: the answer's VERSION_HEADER, or -1). The last line is ``# cpu_s wall_s``:
this process's CPU time, to say what the generator itself took of the machine.

Hand-written HTTP/1.1 over asyncio (uvloop when present) rather than httpx: on a 2-core
machine the generator must leave the cores to the servers it measures.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
from urllib.parse import urlsplit

TIMEOUT_S = 10.0


class Recorder:
    def __init__(self) -> None:
        self.rows: list[tuple[float, float, int, int]] = []
        self.stop = False


async def _read_answer(reader: asyncio.StreamReader, header: bytes) -> tuple[int, int]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split(b" ", 2)[1])
    length = -1
    chunked = False
    version = -1
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding" and b"chunked" in value.lower():
            chunked = True
        elif name == header:
            try:
                version = int(value.strip())
            except ValueError:
                version = -1
    if chunked:
        while True:
            size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
            await reader.readexactly(size + 2)
            if size == 0:
                break
    elif length > 0:
        await reader.readexactly(length)
    return status, version


async def _client(
    host: str, port: int, request: bytes, header: bytes, record: Recorder, stagger: float
) -> None:
    await asyncio.sleep(stagger)
    reader: asyncio.StreamReader | None = None
    writer: asyncio.StreamWriter | None = None
    rows = record.rows
    while not record.stop:
        started = time.time()
        t0 = time.perf_counter()
        try:
            if writer is None:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(host, port), TIMEOUT_S
                )
            assert reader is not None
            writer.write(request)
            status, version = await asyncio.wait_for(_read_answer(reader, header), TIMEOUT_S)
        except (TimeoutError, OSError, asyncio.IncompleteReadError, ValueError):
            rows.append((started, time.perf_counter() - t0, 0, -1))
            if writer is not None:
                writer.close()
            reader = writer = None
            await asyncio.sleep(0.05)  # a refused connection must not become a busy loop
            continue
        rows.append((started, time.perf_counter() - t0, status, version))


async def _main(args: argparse.Namespace) -> Recorder:
    url = urlsplit(args.url)
    with open(args.body, "rb") as handle:
        body = handle.read()
    host = url.hostname or "127.0.0.1"
    port = url.port or 80
    request = (
        f"POST {url.path or '/'} HTTP/1.1\r\nHost: {host}:{port}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body
    record = Recorder()
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.add_reader(sys.stdin.fileno(), lambda: done.done() or done.set_result(None))
    header = args.version_header.lower().encode()
    tasks = [
        asyncio.create_task(_client(host, port, request, header, record, i * 0.005))
        for i in range(args.clients)
    ]
    print("started", flush=True)
    await done
    record.stop = True
    await asyncio.wait(tasks, timeout=TIMEOUT_S + 1)
    return record


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("body")
    parser.add_argument("out")
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--version-header", default="gyre-model-version")
    args = parser.parse_args()
    try:
        from uvloop import run
    except ImportError:
        run = asyncio.run
    wall0 = time.perf_counter()
    record = run(_main(args))
    times = os.times()
    with open(args.out, "w") as out:
        for start, latency, status, version in record.rows:
            out.write(f"{start:.6f} {latency:.6f} {status} {version}\n")
        out.write(f"# {times.user + times.system:.3f} {time.perf_counter() - wall0:.3f}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
