"""The two pipeline workloads every tool implements natively.

Both are a chain of ``STEPS`` steps. Step 0 turns the run's parameter ``x`` into the value;
step ``i`` (1..9) takes the previous value and its own index ``i`` and passes the value on.
The index makes every step distinct, so no tool can deduplicate steps inside one run.
"""

from __future__ import annotations

from dataclasses import dataclass

STEPS = 10


@dataclass(frozen=True)
class Workload:
    name: str
    title: str
    work_s: float
    """CPU seconds of real work in one full run (excluded from the per-step overhead)."""
    value_bytes: int
    """How large the value passed along the chain is."""
    busy_s: float
    """CPU seconds each step spends in a busy loop."""

    def overhead_s(self, wall_s: float) -> float:
        """Per-step overhead of a first run: (wall - work) / steps."""
        return (wall_s - self.work_s) / STEPS


NOOP = Workload("noop", "10 no-op steps, 1 KB value", work_s=0.0, value_bytes=1024, busy_s=0.0)
CPU = Workload("cpu", "10 steps x 0.2 s CPU", work_s=2.0, value_bytes=0, busy_s=0.2)
WORKLOADS = (NOOP, CPU)

# Python source shared by the generated step bodies of every tool: ``first(x)`` makes the
# value from the parameter, ``nth(value, i)`` is the body of step i.
STEP_BODIES = """
import time


def _busy(seconds):
    # Integer arithmetic in user space; the CPU clock (a system call) is read every ~1 ms.
    end = time.process_time() + seconds
    total = 0
    while time.process_time() < end:
        for n in range(20_000):
            total += n * n
    return total


def first(x):
    _busy({busy_s})
    return {first_expr}


def nth(value, i):
    _busy({busy_s})
    return {nth_expr}
"""


def step_bodies(workload: Workload) -> str:
    """The module ``chain_steps.py`` that every tool's generated steps import."""
    if workload.value_bytes:
        first_expr = f"(str(x) * {workload.value_bytes})[:{workload.value_bytes}]"
        nth_expr = "value"
    else:
        first_expr = "str(x) + ':0'"
        nth_expr = "value.split(':')[0] + ':' + str(i)"
    return STEP_BODIES.format(busy_s=workload.busy_s, first_expr=first_expr, nth_expr=nth_expr)
