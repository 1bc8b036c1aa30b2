"""Medians as a readable table, then the one-line JSON summary (the benchmark's last line)."""

from __future__ import annotations

import json
from typing import Any

from inputs import Input
from suite import Conditions, Samples

TARGETS = {"vs_dvc": 2.0, "vs_hash_bound": 0.4, "peak_rss_mb": 200.0}


def figures(items: list[Input], samples: Samples) -> dict[str, float]:
    out: dict[str, float] = {}
    for item in items:
        out[f"{item.key}_mb"] = round(item.size / 2**20, 1)
        out[f"{item.key}_files"] = item.files
        out[f"{item.key}_hash_s"] = round(samples.median(item.key, "sha256", "hash"), 3)
        tools = sorted({tool for key, tool, _ in samples.values if key == item.key} - {"sha256"})
        for tool in tools:
            for what in ("first_add", "readd"):
                name = f"{item.key}_{tool_key(tool)}_{what}"
                out[f"{name}_s"] = round(samples.median(item.key, tool, what), 3)
                out[f"{name}_cpu_s"] = round(samples.median(item.key, tool, f"{what}_cpu"), 3)
                out[f"{name}_peak_rss_mb"] = round(samples.median(item.key, tool, f"{what}_rss"), 1)
    return out


def tool_key(tool: str) -> str:
    return tool.lower().replace("-", "_")


def ratios(fig: dict[str, float]) -> dict[str, float]:
    def over(key: str, what: str, dvc: str = "dvc", gyre: str = "gyre") -> float:
        return round(fig[f"{key}_{dvc}_{what}_s"] / fig[f"{key}_{gyre}_{what}_s"], 2)

    out = {
        "first_add_small_vs_dvc": over("small", "first_add"),
        "readd_small_vs_dvc": over("small", "readd"),
        "first_add_large_vs_dvc": over("large", "first_add"),
        "readd_large_vs_dvc": over("large", "readd"),
        "first_add_large_vs_hash_bound": round(
            fig["large_hash_s"] / fig["large_gyre_first_add_s"], 2
        ),
    }
    if "large_gyre_link_first_add_s" in fig:  # the link modes, gyre --link vs DVC hardlink
        link = {"dvc": "dvc_hardlink", "gyre": "gyre_link"}
        out["link_first_add_small_vs_dvc_hardlink"] = over("small", "first_add", **link)
        out["link_readd_small_vs_dvc_hardlink"] = over("small", "readd", **link)
        out["link_first_add_large_vs_dvc_hardlink"] = over("large", "first_add", **link)
        out["link_readd_large_vs_dvc_hardlink"] = over("large", "readd", **link)
        out["link_first_add_large_vs_hash_bound"] = round(
            fig["large_hash_s"] / fig["large_gyre_link_first_add_s"], 2
        )
    return out


def print_table(
    items: list[Input], fig: dict[str, float], rat: dict[str, float], header: str
) -> None:
    print(f"\n{header}")
    print(
        f"{'':24} {'':10} {'wall clock':^29} {'sha256':>8}   {'cpu (user+sys)':^17}"
        f"   {'peak RSS MB':^15}"
    )
    print(
        f"{'input':24} {'step':10} {'gyre':>9} {'DVC':>9} {'DVC/gyre':>9} {'bound':>8}   "
        f"{'gyre':>8} {'DVC':>8}   {'gyre':>7} {'DVC':>7}"
    )
    for item in items:
        for what, step in (("first_add", "first add"), ("readd", "re-add")):
            k = item.key
            gyre, dvc = fig[f"{k}_gyre_{what}_s"], fig[f"{k}_dvc_{what}_s"]
            bound = f"{fig[f'{k}_hash_s']:7.2f}s" if what == "first_add" else ""
            print(
                f"{item.label if what == 'first_add' else '':24} {step:10} {gyre:8.2f}s "
                f"{dvc:8.2f}s {dvc / gyre:8.2f}x {bound:>8}   "
                f"{fig[f'{k}_gyre_{what}_cpu_s']:7.2f}s {fig[f'{k}_dvc_{what}_cpu_s']:7.2f}s   "
                f"{fig[f'{k}_gyre_{what}_peak_rss_mb']:7.0f} "
                f"{fig[f'{k}_dvc_{what}_peak_rss_mb']:7.0f}"
            )
    if "large_gyre_link_first_add_s" in fig:
        print("\nlink modes (gyre data add --link; DVC cache.type hardlink):")
        for item in items:
            for what, step in (("first_add", "first add"), ("readd", "re-add")):
                k = item.key
                gyre, dvc = fig[f"{k}_gyre_link_{what}_s"], fig[f"{k}_dvc_hardlink_{what}_s"]
                print(
                    f"{item.label if what == 'first_add' else '':24} {step:10} {gyre:8.2f}s "
                    f"{dvc:8.2f}s {dvc / gyre:8.2f}x   peak RSS "
                    f"{fig[f'{k}_gyre_link_{what}_peak_rss_mb']:4.0f} / "
                    f"{fig[f'{k}_dvc_hardlink_{what}_peak_rss_mb']:4.0f} MB"
                )
    print("\nratios (> 1: gyre ahead), against the issue's targets (link modes: no target)")
    for name, value in rat.items():
        target = TARGETS["vs_hash_bound" if name.endswith("hash_bound") else "vs_dvc"]
        verdict = (
            "for reference"
            if name.startswith("link_")
            else f"target >= {target:<4} {_verdict(value >= target)}"
        )
        print(f"  {name:36} {value:6.2f}   {verdict}")
    peak = fig["large_gyre_first_add_peak_rss_mb"]
    print(
        f"  {'large_gyre_first_add_peak_rss_mb':36} {peak:6.0f}   "
        f"target < {TARGETS['peak_rss_mb']:.0f}   {_verdict(peak < TARGETS['peak_rss_mb'])}"
    )


def _verdict(ok: bool) -> str:
    return "met" if ok else "MISSED"


def summary(fig: dict[str, float], rat: dict[str, float]) -> str:
    payload: dict[str, Any] = {"benchmark": "data", "figures": fig, "ratios": rat}
    return json.dumps(payload, sort_keys=False)


def describe(conditions: Conditions, dvc_version: str, load: tuple[float, float]) -> str:
    cache = (
        "page cache emptied before each timed command (cold)"
        if conditions.cold
        else "input read once before each timed command (warm page cache, both tools)"
    )
    return (
        f"medians of {conditions.reps} run(s), each a fresh process; DVC {dvc_version}; {cache}; "
        "times in seconds from spawn to exit, memory = peak RSS in MB (2**20 bytes); "
        f"1-minute load average {load[0]:.1f} before, {load[1]:.1f} after (2 cores: above ~0.5, "
        "other work shared the machine)"
    )
