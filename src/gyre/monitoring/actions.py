"""What a monitor does when a window has drifted: log it, call a webhook, retrain.

The ``drift.detected`` event of a window runs its monitor's actions in order, each recorded
per window in ``monitor_actions``: an action taken (or refused, or failed for good) is not
taken again when the event is replayed. A webhook is retried with back-off inside one attempt
and then recorded as failed; it never holds up the next window. A retrain submits a published
pipeline, at most once per window (the submission's idempotency key), not within the
cool-down of the previous one, not beyond ``max_retrains`` per ``period``, and not while the
previous retrain's run is still queued or running: a drifting stream cannot start a storm.
"""

from __future__ import annotations

import re
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from gyre.durations import parse_duration
from gyre.errors import InvalidParameter, NotFound
from gyre.store import audit
from gyre.store import monitors as rows
from gyre.store.monitors import ActionRow

if TYPE_CHECKING:
    from gyre.store import Store

KINDS = ("log", "webhook", "retrain")
DEFAULT_COOLDOWN_S = 6 * 3600.0
DEFAULT_PERIOD_S = 86400.0
DEFAULT_MAX_RETRAINS = 3
LATEST = re.compile(r"^\{latest:([A-Za-z0-9][A-Za-z0-9._-]*)\}$")
DONE = ("taken", "skipped", "failed")


def check(store: Store, actions: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Checked actions with their defaults filled in."""
    checked = []
    for i, action in enumerate(actions):
        kind = action.get("kind")
        where = f"action {i + 1} ({kind})"
        if kind not in KINDS:
            raise InvalidParameter(
                f"Action {i + 1} has kind {kind!r}: a monitor's actions are {', '.join(KINDS)}."
            )
        if kind == "log":
            checked.append({"kind": "log"})
        elif kind == "webhook":
            checked.append(_check_webhook(action, where))
        else:
            checked.append(_check_retrain(store, action, where))
    return checked


def _check_webhook(action: dict[str, Any], where: str) -> dict[str, Any]:
    url = str(action.get("url") or "")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise InvalidParameter(
            f"{where}: the webhook URL {url!r} is not an http(s) URL, e.g. --webhook "
            "https://hooks.example.com/drift."
        )
    secret = action.get("secret")
    if secret is not None:
        from gyre.data.secrets import get_secret

        get_secret(str(secret))  # NotFound says how to set it
    return {
        "kind": "webhook",
        "url": url,
        "secret": secret,
        "timeout_s": float(action.get("timeout_s", 5.0)),
        "attempts": int(action.get("attempts", 4)),
    }


def _check_retrain(store: Store, action: dict[str, Any], where: str) -> dict[str, Any]:
    from gyre.store import published

    pipeline = str(action.get("pipeline") or "")
    with store.read() as tx:
        published.get(tx, pipeline)  # NotFound names the published pipelines
    out: dict[str, Any] = {"kind": "retrain", "pipeline": pipeline}
    for field, default in (("cooldown", DEFAULT_COOLDOWN_S), ("period", DEFAULT_PERIOD_S)):
        value = action.get(field, default)
        seconds = parse_duration(value)
        if seconds is None:
            raise InvalidParameter(f"{where}: {field} {value!r} is not a duration (e.g. 6h).")
        out[f"{field}_s"] = seconds
    limit = action.get("max_retrains", DEFAULT_MAX_RETRAINS)
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise InvalidParameter(f"{where}: max_retrains must be a whole number >= 1, not {limit!r}.")
    out["max_retrains"] = limit
    params = action.get("params") or {}
    if not isinstance(params, dict):
        raise InvalidParameter(f"{where}: params must be a mapping of name to value.")
    out["params"] = params
    tags = action.get("tags") or {}
    if not isinstance(tags, dict) or not all(isinstance(v, str) for v in tags.values()):
        raise InvalidParameter(
            f"{where}: tags must be a mapping of name to text, e.g. build=drift (a release "
            "definition's trigger may ask for a tag)."
        )
    out["tags"] = {str(k): v for k, v in tags.items()}
    return out


def take(store: Store, payload: dict[str, Any], say: Any = None) -> str:
    """Run the actions of a drifted window (the ``drift.detected`` event's job)."""
    name = str(payload["monitor"])
    start, end = float(payload["starts_at"]), float(payload["ends_at"])
    with store.read() as tx:
        monitor = rows.find(tx, name)
        window = rows.find_window(tx, name, start, end) if monitor else None
    if monitor is None or window is None:
        return f"monitor {name} or its window is gone: no action taken"
    said = []
    for action in monitor.spec.get("actions", []):
        kind = action["kind"]
        with store.read() as tx:
            earlier = rows.find_action(tx, name, start, end, kind)
        if earlier is not None and earlier.status in DONE:
            said.append(f"{kind}: {earlier.status} before")
            continue
        if kind == "log":
            outcome = _record(store, name, start, end, "log", "taken", {"message": window.message})
        elif kind == "webhook":
            outcome = _webhook(store, action, monitor.name, window)
        else:
            outcome = _retrain(store, action, monitor.name, window)
        said.append(f"{kind}: {outcome.status}" + _why(outcome))
    return f"monitor {name}: drift in {window.message}; " + "; ".join(said)


def _why(action: ActionRow) -> str:
    reason = (
        action.detail.get("reason") or action.detail.get("error") or action.detail.get("run_id")
    )
    return f" ({reason})" if reason else ""


def _record(
    store: Store,
    name: str,
    start: float,
    end: float,
    kind: str,
    status: str,
    detail: dict[str, Any],
) -> ActionRow:
    action = ActionRow(name, start, end, kind, status, detail, time.time())
    with store.write() as tx:
        rows.record_action(tx, action)
        audit.append(
            tx, "monitor", f"monitor.{kind}", f"monitor {name}", {"status": status, **detail}
        )
    return action


def event_body(monitor: str, window: rows.WindowRow) -> dict[str, Any]:
    """The JSON a webhook receives: the window, its verdict and each drifted feature."""
    report = window.report or {}
    return {
        "event": "drift.detected",
        "monitor": monitor,
        "starts_at": window.starts_at,
        "ends_at": window.ends_at,
        "rows": window.rows,
        "baseline": window.baseline,
        "share": window.share,
        "summary": window.message,
        "drifted_features": report.get("drifted_features", []),
        "features": {
            f["name"]: {"drifted": f["drifted"], "breaches": f["breaches"]}
            for f in report.get("features", [])
        },
        "quality": window.quality,
    }


def _webhook(store: Store, action: dict[str, Any], name: str, window: rows.WindowRow) -> ActionRow:
    from gyre.monitoring import webhooks

    secret = None
    if action.get("secret"):
        from gyre.data.secrets import get_secret

        secret = str(get_secret(str(action["secret"])))
    delivery = webhooks.deliver(
        action["url"],
        _finite(event_body(name, window)),
        event="drift.detected",
        secret=secret,
        timeout_s=float(action.get("timeout_s", 5.0)),
        attempts=int(action.get("attempts", 4)),
    )
    detail = {**delivery.to_dict(), "url": _redacted(action["url"])}
    status = "taken" if delivery.delivered else "failed"
    return _record(store, name, window.starts_at, window.ends_at, "webhook", status, detail)


def _redacted(url: str) -> str:
    """A webhook URL without its path and query, which often hold a token (Slack, Teams)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}/..." if parts.path not in ("", "/") else url


def _finite(value: Any) -> Any:
    """JSON without NaN or infinities (webhook receivers parse strictly)."""
    import math

    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def _retrain(store: Store, action: dict[str, Any], name: str, window: rows.WindowRow) -> ActionRow:
    start, end = window.starts_at, window.ends_at
    now = time.time()
    with store.write() as tx:
        rows.lock(tx, name)
        earlier = rows.find_action(tx, name, start, end, "retrain")
        if earlier is None or earlier.status != "pending":
            refusal = _refusal(store, tx, action, name, now)
            if refusal is not None:
                skipped = ActionRow(
                    name, start, end, "retrain", "skipped", {"reason": refusal}, now
                )
                rows.record_action(tx, skipped)
                audit.append(tx, "monitor", "monitor.retrain", f"monitor {name}", skipped.detail)
                return skipped
            rows.record_action(
                tx,
                ActionRow(
                    name, start, end, "retrain", "pending", {"pipeline": action["pipeline"]}, now
                ),
            )
    # Outside the transaction: submitting reads the published snapshot. Its idempotency key
    # makes a replay after a crash here return the same run.
    from gyre.pipelines.submission import submit

    params = {k: _resolve_param(store, v) for k, v in action.get("params", {}).items()}
    submitted = submit(
        store,
        action["pipeline"],
        params=params,
        tags={
            **action.get("tags", {}),
            "trigger": "drift",
            "monitor": name,
            "window_end": f"{end:.0f}",
        },
        idempotency_key=f"monitor-retrain:{name}:{start!r}:{end!r}",
    )
    detail = {
        "pipeline": f"{submitted.pipeline.name}@{submitted.pipeline.version}",
        "params": params,
        "run_id": submitted.run_id,
        "job_id": submitted.job_id,
    }
    return _record(store, name, start, end, "retrain", "taken", detail)


def _refusal(store: Store, tx: Any, action: dict[str, Any], name: str, now: float) -> str | None:
    """Why this retrain must not start (a cool-down, the limit, one still running), or None."""
    period = float(action.get("period_s", DEFAULT_PERIOD_S))
    recent = [
        a
        for a in rows.actions(
            tx, name, kind="retrain", since=now - max(period, action["cooldown_s"])
        )
        if a.status in ("taken", "pending")
    ]
    if recent:
        last = max(recent, key=lambda a: a.at)
        if now - last.at < float(action["cooldown_s"]):
            return (
                f"cool-down: the last retrain started {now - last.at:.0f} s ago, the next may "
                f"start after {action['cooldown_s']:.0f} s"
            )
        run_id = last.detail.get("run_id")
        if run_id and _still_running(store, str(run_id)):
            return f"the previous retrain (run {run_id}) is still running"
    in_period = [a for a in recent if a.at >= now - period]
    if len(in_period) >= int(action["max_retrains"]):
        return (
            f"limit: {len(in_period)} retrains in the last {period:.0f} s "
            f"(max {action['max_retrains']})"
        )
    return None


def _still_running(store: Store, run_id: str) -> bool:
    from gyre.tracking.run_details import get_run

    try:
        return get_run(store, run_id).status in ("queued", "running")
    except NotFound:
        return False


def _resolve_param(store: Store, value: Any) -> Any:
    """``{latest:products}`` -> ``products@7``, the newest version when the retrain starts."""
    match = LATEST.match(value) if isinstance(value, str) else None
    if match is None:
        return value
    from gyre.data import versions

    record = versions.get(store, match.group(1), "latest")
    return f"{record.dataset}@{record.version}"
