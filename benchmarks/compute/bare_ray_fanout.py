"""The same fan-out as workloads.py:fanout, written directly against Ray (no gyre): the peer.

    python bare_ray_fanout.py ADDRESS WIDTH

One Ray task per step with num_cpus=1, the same CPU-bound loop, all submitted at once, from a
fresh driver process that exits the way a Ray script does.
"""

import sys
import time

import ray


@ray.remote(num_cpus=1)
def burn(seconds: float = 1.0, index: int = 0) -> int:
    deadline = time.process_time() + seconds
    total = 0
    while time.process_time() < deadline:
        for i in range(20_000):
            total += i * i
    return index


if __name__ == "__main__":
    ray.init(address=sys.argv[1], logging_level="ERROR", log_to_driver=False)
    ray.get([burn.remote(1.0, i) for i in range(int(sys.argv[2]))])
