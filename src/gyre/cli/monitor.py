"""``gyre monitor ...`` and ``gyre drift``."""

from __future__ import annotations

import datetime as dt
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from gyre.cli.options import json_option, open_workspace, parse_pairs, print_json
from gyre.cli.tables import add_column, new_table, print_table

if TYPE_CHECKING:
    from gyre.monitoring import DriftReport
    from gyre.store.monitors import MonitorRow, WindowRow


def _thresholds(pairs: tuple[str, ...]) -> dict[str, float | None]:
    out: dict[str, float | None] = {}
    for key, value in parse_pairs(pairs, "--threshold", "psi=0.2").items():
        if value.lower() in ("off", "none"):
            out[key] = None
            continue
        try:
            out[key] = float(value)
        except ValueError:
            raise click.BadParameter(
                f"{key}={value}: a threshold is a number, or 'off'.", param_hint="--threshold"
            ) from None
    return out


def _weights(
    pairs: tuple[str, ...], option: str = "--weight", example: str = "image.brightness=2"
) -> dict[str, float]:
    out = {}
    for key, value in parse_pairs(pairs, option, example).items():
        try:
            out[key] = float(value)
        except ValueError:
            raise click.BadParameter(f"{key}={value}: give a number.", param_hint=option) from None
    return out


def _features(text: str | None) -> list[str] | None:
    return [f.strip() for f in text.split(",") if f.strip()] if text else None


def judging_options(func: Any) -> Any:
    """The options both ``gyre drift`` and ``gyre monitor create`` judge drift with."""
    for option in reversed(
        [
            click.option("--features", help="Comma-separated features to compare (default: all)."),
            click.option(
                "--threshold",
                "thresholds",
                multiple=True,
                metavar="STAT=VALUE",
                help="A statistic's threshold (ks_pvalue, chi2_pvalue, wasserstein_normed, psi, "
                "jensen_shannon, new_share); 'off' stops judging by it. Repeatable.",
            ),
            click.option(
                "--correction",
                type=click.Choice(["bonferroni", "fdr_bh", "none"]),
                default="bonferroni",
                show_default=True,
                help="Multiple-testing correction of the p-values across features.",
            ),
            click.option(
                "--drift-share",
                type=float,
                default=0.5,
                show_default=True,
                help="Share of drifted features (weighted) that makes the data drifted.",
            ),
            click.option(
                "--weight",
                "weights",
                multiple=True,
                metavar="FEATURE=W",
                help="A feature's importance in the share (default 1). Repeatable.",
            ),
            click.option(
                "--target", help="The baseline's label column, compared with the predictions."
            ),
        ]
    ):
        func = option(func)
    return func


# -- gyre drift ----------------------------------------------------------------------------------


@click.command("drift")
@click.argument("baseline")
@click.argument("current")
@judging_options
@json_option
def drift(
    baseline: str,
    current: str,
    features: str | None,
    thresholds: tuple[str, ...],
    correction: str,
    drift_share: float,
    weights: tuple[str, ...],
    target: str | None,
    as_json: bool,
) -> None:
    """Compare CURRENT with BASELINE: dataset versions (products@2), table files (.csv,
    .parquet, .jsonl) or labeled image folders. Exit code 1 when the data has drifted."""
    import gyre

    report = gyre.drift(
        _data(baseline),
        _data(current),
        features=_features(features),
        thresholds=_thresholds(thresholds),
        correction=correction,
        drift_share=drift_share,
        weights=_weights(weights),
        target=target,
    )
    if as_json:
        print_json(report.to_dict())
    else:
        print_report(report)
    raise SystemExit(1 if report.drifted else 0)


def _data(text: str) -> Any:
    path = Path(text)
    if path.is_dir():
        return path
    if path.is_file():
        from gyre.data.tables import read_table, table_format

        fmt = table_format(path.name)
        if fmt is None:
            raise click.BadParameter(
                f"{text} is a file but not a table (.csv, .parquet, .jsonl).", param_hint="data"
            )
        return read_table(path.read_bytes(), fmt, text)
    from gyre.monitoring import sources

    return sources.of_reference(open_workspace(), text)


def print_report(report: DriftReport) -> None:
    table = new_table()
    for column in ("feature", "kind", "drifted", "statistic", "p-value", "distance", "why"):
        add_column(table, column)
    for f in sorted(report.features, key=lambda f: (not f.drifted, f.name)):
        stats = f.statistics
        if f.kind == "numeric":
            statistic = _fmt(stats.get("ks_statistic"), "KS ")
            pvalue = _fmt(stats.get("ks_pvalue"))
            distance = _fmt(stats.get("wasserstein_normed"), "W/sd ")
        else:
            statistic = _fmt(stats.get("chi2"), "chi2 ")
            pvalue = _fmt(stats.get("chi2_pvalue"))
            distance = _fmt(stats.get("jensen_shannon"), "JS ")
        why = "; ".join(f.breaches) or (f.problem or "")
        table.add_row(
            f.name, f.kind, "DRIFT" if f.drifted else "-", statistic, pvalue, distance, why
        )
    print_table(table)
    correction = report.correction
    verdict = "DRIFTED" if report.drifted else "no drift"
    click.echo(
        f"\n{verdict}: {len(report.drifted_features)} of {len(report.features)} features "
        f"({report.share:.0%}; drifted at {report.settings.drift_share:.0%}); "
        f"{correction['method']} correction over {correction['tests']} tests; "
        f"rows: baseline {report.baseline_rows}, current {report.current_rows}"
    )
    for name, why in sorted(report.skipped.items()):
        click.echo(f"  not compared: {name}: {why}")


def _fmt(value: Any, prefix: str = "") -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{prefix}{value:.3g}"


# -- gyre monitor --------------------------------------------------------------------------------


@click.group()
def monitor() -> None:
    """Drift monitors: compare an endpoint's inference data with its baseline on a schedule,
    and log, call a webhook or retrain when it drifted (run by 'gyre agent')."""


@monitor.command("create")
@click.argument("name")
@click.option("--endpoint", help="Watch this endpoint's inference dataset (ENDPOINT-inference).")
@click.option("--dataset", help="Or watch this append-only dataset.")
@click.option(
    "--baseline",
    help="Dataset version to compare with (default: the datasets that trained the version "
    "the endpoint serves, from lineage).",
)
@click.option("--window", default="1h", show_default=True, help="Length of each window.")
@click.option("--schedule", help="Cron expression (UTC) of window ends, e.g. '0 * * * *'.")
@click.option("--grace", default="30s", show_default=True, help="Wait after a window ends.")
@judging_options
@click.option("--webhook", help="POST each drifted window here (JSON, signed with --secret).")
@click.option("--webhook-secret", help="Name of a gyre secret: the HMAC-SHA256 key.")
@click.option("--retrain", "retrain", help="Submit this published pipeline on drift.")
@click.option("--retrain-param", "retrain_params", multiple=True, metavar="K=V")
@click.option(
    "--retrain-tag",
    "retrain_tags",
    multiple=True,
    metavar="K=V",
    help="Tags of the retrain's run and of the version it registers (a release trigger may "
    "ask for one, e.g. build=drift).",
)
@click.option("--cooldown", default="6h", show_default=True, help="Between two retrains.")
@click.option("--max-retrains", type=int, default=3, show_default=True, help="Per --period.")
@click.option("--period", default="1d", show_default=True, help="Period of --max-retrains.")
@click.option("--no-log", is_flag=True, help="Do not log drifted windows to the audit log.")
@click.option(
    "--min-quality",
    "min_quality",
    multiple=True,
    metavar="METRIC=V",
    help="Where labels arrived (gyre data label): accuracy=0.9, f1_macro=0.8 at least, or "
    "mae=0.5, rmse=1 at most; a window below counts as drifted. Repeatable.",
)
@json_option
def create(
    name: str,
    endpoint: str | None,
    dataset: str | None,
    baseline: str | None,
    window: str,
    schedule: str | None,
    grace: str,
    features: str | None,
    thresholds: tuple[str, ...],
    correction: str,
    drift_share: float,
    weights: tuple[str, ...],
    target: str | None,
    webhook: str | None,
    webhook_secret: str | None,
    retrain: str | None,
    retrain_params: tuple[str, ...],
    retrain_tags: tuple[str, ...],
    cooldown: str,
    max_retrains: int,
    period: str,
    no_log: bool,
    min_quality: tuple[str, ...],
    as_json: bool,
) -> None:
    """Define monitor NAME. Parameters of --retrain may name the newest version of a dataset
    when the retrain starts: --retrain-param data={latest:products}."""
    from gyre.monitoring import monitors

    actions: list[dict[str, Any]] = [] if no_log else [{"kind": "log"}]
    if webhook:
        actions.append({"kind": "webhook", "url": webhook, "secret": webhook_secret})
    if retrain:
        actions.append(
            {
                "kind": "retrain",
                "pipeline": retrain,
                "params": parse_pairs(retrain_params, "--retrain-param", "epochs=20"),
                "tags": parse_pairs(retrain_tags, "--retrain-tag", "build=drift"),
                "cooldown": cooldown,
                "max_retrains": max_retrains,
                "period": period,
            }
        )
    row = monitors.create(
        open_workspace(),
        name,
        endpoint=endpoint,
        dataset=dataset,
        baseline=baseline,
        window=window,
        schedule=schedule,
        features=_features(features),
        thresholds=_thresholds(thresholds),
        correction=correction,
        drift_share=drift_share,
        weights=_weights(weights),
        target=target,
        actions=actions,
        grace=grace,
        quality=_weights(min_quality, "--min-quality", "accuracy=0.9"),
    )
    if as_json:
        print_json(_as_dict(row))
        return
    click.echo(f"Monitor {row.name}: {_describe(row)}")


def _describe(row: MonitorRow) -> str:
    from gyre.durations import describe

    when = f"at '{row.schedule}' (UTC)" if row.schedule else "by hand (gyre monitor run)"
    baseline = row.baseline or "the training data of the version served (lineage)"
    kinds = ", ".join(a["kind"] for a in row.spec.get("actions", [])) or "none"
    return (
        f"{row.dataset} in {describe(row.window_s)} windows {when}, against {baseline}; "
        f"on drift: {kinds}"
    )


@monitor.command("list")
@json_option
def list_monitors(as_json: bool) -> None:
    """Monitors, with their latest window."""
    from gyre.monitoring import monitors

    store = open_workspace()
    found = monitors.list_monitors(store)
    latest = {m.name: monitors.windows(store, m.name, limit=1) for m in found}
    if as_json:
        print_json([{**_as_dict(m), "latest": _window_dict(latest[m.name])} for m in found])
        return
    table = new_table()
    for column in ("name", "data", "window", "schedule", "latest window", "status", "drift"):
        add_column(table, column)
    from gyre.durations import describe

    for m in found:
        last = latest[m.name][0] if latest[m.name] else None
        table.add_row(
            m.name,
            m.dataset,
            describe(m.window_s),
            m.schedule or "-",
            _when(last.ends_at) if last else "-",
            last.status if last else "-",
            _verdict(last) if last else "-",
        )
    print_table(table)


def _window_dict(found: list[WindowRow]) -> dict[str, Any] | None:
    if not found:
        return None
    w = found[0]
    return {
        "starts_at": w.starts_at,
        "ends_at": w.ends_at,
        "status": w.status,
        "drifted": w.drifted,
        "share": w.share,
        "rows": w.rows,
        "message": w.message,
    }


def _verdict(window: WindowRow) -> str:
    if window.drifted is None:
        return "-"
    return f"{'DRIFTED' if window.drifted else 'no'} ({window.share or 0:.0%})"


def _as_dict(row: MonitorRow) -> dict[str, Any]:
    return {
        "name": row.name,
        "endpoint": row.endpoint,
        "dataset": row.dataset,
        "baseline": row.baseline,
        "window_s": row.window_s,
        "schedule": row.schedule,
        "spec": row.spec,
        "created_at": row.created_at,
        "created_by": row.created_by,
    }


@monitor.command("show")
@click.argument("name")
@click.option("--windows", "count", default=48, show_default=True, help="Windows charted.")
@json_option
def show(name: str, count: int, as_json: bool) -> None:
    """The monitor, its latest window's table and each feature's drift over time."""
    from gyre.cli.charts import drift_chart
    from gyre.monitoring import monitors

    store = open_workspace()
    row = monitors.get(store, name)
    found = monitors.windows(store, name, limit=count, with_report=True)
    since = found[0].starts_at if found else 0.0
    history = monitors.feature_history(store, name, since)
    if as_json:
        print_json(
            {
                **_as_dict(row),
                "windows": [_full_window(w) for w in found],
                "history": [
                    {
                        "feature": h.feature,
                        "starts_at": h.starts_at,
                        "ends_at": h.ends_at,
                        "drifted": h.drifted,
                        "score": h.score,
                    }
                    for h in history
                ],
            }
        )
        return
    click.echo(f"Monitor {row.name}: {_describe(row)}")
    if not found:
        click.echo("No window computed yet: 'gyre monitor run' computes one now.")
        return
    latest = found[-1]
    click.echo("\nLatest window: ", nl=False)
    _say_window(latest)
    compared = [w for w in found if w.report]
    if compared:
        shown = compared[-1]
        if shown is not latest:
            click.echo("Latest window with rows: ", nl=False)
            _say_window(shown)
        click.echo(f"baseline {shown.baseline}")
        if shown.quality:
            click.echo("quality: " + ", ".join(f"{k} {_fmt(v)}" for k, v in shown.quality.items()))
        from gyre.monitoring.comparison import report_from_dict

        print_report(report_from_dict(shown.report or {}))
    series: dict[str, list[tuple[float, float | None, bool]]] = {}
    for h in history:
        series.setdefault(h.feature, []).append((h.starts_at, h.score, h.drifted))
    if series:
        click.echo("\nDrift over time (KS statistic for numbers, Jensen-Shannon for categories):")
        for line in drift_chart(series):
            click.echo(line)


def _full_window(w: WindowRow) -> dict[str, Any]:
    return {
        **(_window_dict([w]) or {}),
        "baseline": w.baseline,
        "quality": w.quality,
        "report": w.report,
    }


@monitor.command("run")
@click.argument("name")
@click.option("--window", help="Length of the window ending now (default: the monitor's).")
@json_option
def run(name: str, window: str | None, as_json: bool) -> None:
    """Compute the window that ends now, and take the actions if it drifted."""
    from gyre.monitoring import monitors

    outcome = monitors.run_now(open_workspace(), name, window)
    if as_json:
        print_json(outcome.to_dict())
        return
    _say_window(outcome.window)
    if outcome.window.report:
        from gyre.monitoring.comparison import report_from_dict

        print_report(report_from_dict(outcome.window.report))
    if outcome.window.drifted:
        click.echo("Actions are taken by 'gyre agent' (drift.detected event queued).")


def _say_window(w: WindowRow) -> None:
    click.echo(
        f"window {_when(w.starts_at)} .. {_when(w.ends_at)}: {w.status}, {w.rows} rows: {w.message}"
    )


@monitor.command("backfill")
@click.argument("name")
@click.option("--from", "start", required=True, help="UTC date/time, e.g. 2026-11-01T00:00.")
@click.option("--to", "end", required=True, help="UTC date/time (exclusive).")
@click.option("--act", is_flag=True, help="Also take the actions of drifted windows.")
@json_option
def backfill(name: str, start: str, end: str, act: bool, as_json: bool) -> None:
    """Compute every window of the schedule between --from and --to (computed ones are kept)."""
    from gyre.monitoring import monitors

    outcomes = monitors.backfill(
        open_workspace(), name, _instant(start, "--from"), _instant(end, "--to"), act=act
    )
    if as_json:
        print_json([{k: v for k, v in o.to_dict().items() if k != "report"} for o in outcomes])
        return
    for outcome in outcomes:
        _say_window(outcome.window)
    drifted = sum(1 for o in outcomes if o.window.drifted)
    fresh = sum(1 for o in outcomes if o.computed_now)
    click.echo(f"{len(outcomes)} windows ({fresh} computed now), {drifted} drifted")


def _instant(text: str, option: str) -> float:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(
            f"{text!r} is not a date/time: write it like 2026-11-01 or 2026-11-01T06:00 (UTC).",
            param_hint=option,
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.timestamp()


@monitor.command("delete")
@click.argument("name")
def delete(name: str) -> None:
    """Remove monitor NAME and its results (the data it watched stays)."""
    from gyre.monitoring import monitors

    monitors.delete(open_workspace(), name)
    click.echo(f"Deleted monitor {name}")


def _when(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%d %H:%M")
