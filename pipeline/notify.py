"""Run-summary alerts: an Airflow notifier for failed runs and missed deadlines.

:class:`RunSummaryNotifier` is an Airflow 3 ``BaseNotifier``. The DAGs use it twice:

* ``on_failure_callback`` (sync :meth:`~RunSummaryNotifier.notify`, run by the dag-processor): the
  run failed — usually because a facility batch was held back, failed or partly rejected;
* the per-dataset ``DeadlineAlert`` (async :meth:`~RunSummaryNotifier.async_notify`, run by the
  triggerer): the night was not complete by the configured local time.

The message names the dataset, the night, the run (with a link to it in the Airflow UI), the totals,
the top quarantine rules and each facility that needs attention with its status, counts, top rules
and reason — read from the staging ledger. Never a record value: reasons go through
:func:`pipeline.outcomes.safe_reason` (no file names, no long digit runs).

Channels are Airflow connections, listed in ``S06_ALERT_CONN_IDS`` (comma-separated, default
``s06_alerts``); each is sent to independently:

* ``conn_type`` ``smtp`` (or ``email``): host, port, login/password (optional); extra
  ``{"from": "...", "to": ["ops@example.vn"], "starttls": false, "ssl": false, "timeout": 30}``;
* ``conn_type`` ``http``/``https``/``webhook``: a generic JSON webhook, POSTed to ``host`` (a full
  URL, or host + port + extra ``path``); login/password give basic auth, extra ``headers`` extra
  headers, extra ``timeout`` the timeout in seconds.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import os
import smtplib
import ssl
from collections.abc import Mapping
from email.message import EmailMessage
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

try:  # Airflow's notifier base class; absent only where Airflow is not installed (never in this repo)
    from airflow.sdk import BaseNotifier
except ImportError:  # pragma: no cover
    BaseNotifier = object  # type: ignore[assignment,misc]

log = logging.getLogger(__name__)

ENV_CONN_IDS = "S06_ALERT_CONN_IDS"
DEFAULT_CONN_ID = "s06_alerts"
EVENTS = {"failure": "FAILED", "deadline": "DEADLINE MISSED", "test": "TEST"}


def alert_conn_ids() -> list[str]:
    """The configured alert channels (connection ids)."""
    raw = os.environ.get(ENV_CONN_IDS, DEFAULT_CONN_ID)
    return [c.strip() for c in raw.split(",") if c.strip()]


# ----------------------------------------------------------------------------- the message


def _get(obj: Any, name: str, default: Any = None) -> Any:
    if obj is None:
        return default
    if isinstance(obj, Mapping):
        return obj.get(name, default)
    return getattr(obj, name, default)


def _as_datetime(value: Any) -> dt.datetime | None:
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value
    return dt.datetime.fromisoformat(str(value).replace("Z", "+00:00"))


def run_facts(context: Mapping[str, Any]) -> dict[str, Any]:
    """Dataset, night, run id, state and link from a callback context (task/DAG callback or deadline).

    The night is the run's ``night`` param (``conf``) when given, else the local date of the data
    interval start — the same rule the DAG's tasks use.
    """
    from pipeline.runparams import interval_for, night_param

    run = context.get("dag_run")
    dag = context.get("dag")
    dag_id = _get(run, "dag_id") or _get(dag, "dag_id") or ""
    conf = dict(_get(run, "conf") or {})
    params = dict(context.get("params") or {})
    night = night_param({**params, **conf})
    start = _as_datetime(_get(run, "data_interval_start"))
    end = _as_datetime(_get(run, "data_interval_end"))
    interval = interval_for(night, start, end)
    run_id = _get(run, "run_id") or _get(run, "dag_run_id") or ""
    return {
        "dataset": dag_id,
        "run_id": run_id,
        "state": str(_get(run, "state") or ""),
        "night": interval[0].astimezone(ZoneInfo(_timezone())).date().isoformat() if interval else None,
        "interval_start": interval[0] if interval else None,
        "url": run_url(dag_id, run_id),
        "facilities": conf.get("facilities") or params.get("facilities") or None,
    }


def _timezone() -> str:
    from config.settings import load_settings

    return load_settings().timezone


def run_url(dag_id: str, run_id: str) -> str:
    """Link to the run in the Airflow UI (``[api] base_url``; relative when it is not configured)."""
    base = os.environ.get("AIRFLOW__API__BASE_URL", "")
    if not base:
        try:
            from airflow.configuration import conf

            base = conf.get("api", "base_url", fallback="") or ""
        except Exception:
            base = ""
    return f"{base.rstrip('/')}/dags/{quote(dag_id, safe='')}/runs/{quote(run_id, safe='')}"


def build_message(event: str, facts: Mapping[str, Any], summary: Mapping[str, Any] | None) -> dict[str, Any]:
    """The notification: ``subject``, plain ``text`` and a JSON-able ``payload``."""
    from pipeline.logs import top_rules

    label = EVENTS.get(event, event.upper())
    attention = list((summary or {}).get("attention") or [])
    kinds = ", ".join(f"{n} {s}" for s, n in sorted(_count(a["status"] for a in attention).items()))
    subject = f"[Scheme 06] {facts['dataset']} night {facts['night']}: {label}" + (f" ({kinds})" if kinds else "")
    lines = [
        f"dataset: {facts['dataset']}",
        f"night: {facts['night']} ({_timezone()})",
        f"run: {facts['run_id']} (state {facts['state'] or 'unknown'})",
        f"link: {facts['url']}",
    ]
    if event == "deadline":
        lines.insert(0, "The night was not complete by its deadline.")
    if facts.get("facilities"):
        lines.append(f"facilities requested: {', '.join(facts['facilities'])}")
    if summary is not None:
        t = summary["totals"]
        statuses = ", ".join(f"{s} {n}" for s, n in summary["statuses"].items()) or "none yet"
        lines.append(f"batches: {summary['batches']} ({statuses}); received {t['received']}, loaded {t['loaded']}, "
                     f"quarantined {t['quarantined']}, superseded {t['superseded']}, held {t['held']}")
        lines.append(f"top rules: {top_rules(summary['top_rules']) or '-'}")
        if attention:
            lines.append("needs attention:")
            for a in attention:
                rules = top_rules(a["top_rules"])
                lines.append(f"  {a['facility']} {a['status']}: received {a['received']}, loaded {a['loaded']}, "
                             f"quarantined {a['quarantined']}, held {a['held']}"
                             + (f" | {rules}" if rules else "") + (f" | {a['reason']}" if a["reason"] else ""))
    else:
        lines.append("ledger: not readable from here (see the run)")
    payload = {
        "event": event, "dataset": facts["dataset"], "night": facts["night"], "run_id": facts["run_id"],
        "state": facts["state"], "url": facts["url"], "summary": summary, "text": "\n".join(lines),
    }
    return {"subject": subject, "text": "\n".join(lines), "payload": payload}


def _count(values: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for v in values:
        out[v] = out.get(v, 0) + 1
    return out


def compose(event: str, context: Mapping[str, Any]) -> dict[str, Any]:
    """Facts + ledger summary -> message. A ledger that cannot be read still gives a message."""
    from pipeline.outcomes import run_summary

    facts = run_facts(context)
    summary = None
    if facts["interval_start"] is not None and facts["dataset"]:
        try:
            summary = run_summary(facts["dataset"], facts["interval_start"])
        except Exception as exc:  # the alert must still go out
            log.warning("run summary unavailable for the alert: %s", type(exc).__name__)
    return build_message(event, facts, summary)


# ----------------------------------------------------------------------------- the channels


def channel_from_connection(conn: Any, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """A plain dict of what the senders need from an Airflow connection."""
    return {
        "conn_id": _get(conn, "conn_id"), "conn_type": (_get(conn, "conn_type") or "").lower(),
        "host": _get(conn, "host") or "", "port": _get(conn, "port"), "schema": _get(conn, "schema") or "",
        "login": _get(conn, "login"), "password": _get(conn, "password"),
        "extra": dict(extra if extra is not None else (_get(conn, "extra_dejson") or {})),
    }


def webhook_url(channel: Mapping[str, Any]) -> str:
    host = channel["host"]
    if host.startswith(("http://", "https://")):
        return host
    scheme = channel["schema"] if channel["schema"] in ("http", "https") else (
        "https" if channel["conn_type"] == "https" else "http")
    port = f":{channel['port']}" if channel.get("port") else ""
    path = str(channel["extra"].get("path", "")).lstrip("/")
    return f"{scheme}://{host}{port}/{path}"


def send(channel: Mapping[str, Any], message: Mapping[str, Any]) -> None:
    """Deliver ``message`` through one channel; raises on failure."""
    kind = channel["conn_type"]
    extra = channel["extra"]
    timeout = float(extra.get("timeout", 30))
    if kind in ("smtp", "email"):
        recipients = extra.get("to") or []
        if isinstance(recipients, str):
            recipients = [r.strip() for r in recipients.split(",") if r.strip()]
        if not recipients:
            raise ValueError(f"alert connection '{channel['conn_id']}' has no recipients (extra 'to')")
        mail = EmailMessage()
        mail["Subject"] = message["subject"]
        mail["From"] = extra.get("from") or "scheme06-pipeline@localhost"
        mail["To"] = ", ".join(recipients)
        mail.set_content(message["text"])
        port = int(channel["port"] or (465 if extra.get("ssl") else 25))
        cls = smtplib.SMTP_SSL if extra.get("ssl") else smtplib.SMTP
        with cls(channel["host"] or "127.0.0.1", port, timeout=timeout) as smtp:
            if extra.get("starttls"):
                smtp.starttls(context=ssl.create_default_context())
            if channel.get("login"):
                smtp.login(channel["login"], channel.get("password") or "")
            smtp.send_message(mail)
    elif kind in ("http", "https", "webhook"):
        import requests

        headers = {"Content-Type": "application/json", **dict(extra.get("headers") or {})}
        auth = (channel["login"], channel.get("password") or "") if channel.get("login") else None
        body = json.dumps(message["payload"], default=str, ensure_ascii=False).encode("utf-8")
        resp = requests.post(webhook_url(channel), data=body, headers=headers, auth=auth, timeout=timeout)
        resp.raise_for_status()
    else:
        raise ValueError(f"alert connection '{channel['conn_id']}': unsupported conn_type '{kind}' (smtp or http)")


def deliver(message: Mapping[str, Any], channels: list[dict[str, Any]]) -> list[str]:
    """Send to every channel; one failing channel does not stop the others. Returns the failures."""
    failures = []
    for channel in channels:
        try:
            send(channel, message)
            log.info("alert sent through %s (%s)", channel["conn_id"], channel["conn_type"])
        except Exception as exc:
            failures.append(f"{channel['conn_id']}: {type(exc).__name__}")
            log.error("alert through %s failed: %s", channel["conn_id"], type(exc).__name__)
    return failures


# ----------------------------------------------------------------------------- the notifier


class RunSummaryNotifier(BaseNotifier):  # type: ignore[misc,valid-type]
    """Send the run summary of a Scheme 06 dataset night to the configured alert channels.

    Args:
        event: ``failure`` (DAG ``on_failure_callback``) or ``deadline`` (``DeadlineAlert``).
        conn_ids: alert connection ids (default: ``S06_ALERT_CONN_IDS`` at send time).
        context: set by Airflow when the notifier runs as a deadline callback.
    """

    template_fields = ()

    def __init__(self, event: str = "failure", conn_ids: list[str] | None = None,
                 context: Any = None) -> None:
        super().__init__(context=context)
        self.event = event
        self.conn_ids = list(conn_ids) if conn_ids else None

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Nothing to render (no template fields); also avoids needing a DAG's Jinja environment,
        which the callback context may not carry (``dag.test()`` passes a serialized DAG)."""

    def _conn_ids(self) -> list[str]:
        return self.conn_ids or alert_conn_ids()

    def _channels_sync(self) -> list[dict[str, Any]]:
        from airflow.sdk import Connection

        channels = []
        for conn_id in self._conn_ids():
            try:
                channels.append(channel_from_connection(Connection.get(conn_id)))
            except Exception as exc:
                log.error("alert connection '%s' is not available (%s): define it (AIRFLOW_CONN_%s or "
                          "Admin -> Connections)", conn_id, type(exc).__name__, conn_id.upper())
        return channels

    async def _channels_async(self) -> list[dict[str, Any]]:
        from airflow.sdk import Connection

        channels = []
        for conn_id in self._conn_ids():
            try:
                conn = await Connection.async_get(conn_id)
                channels.append(channel_from_connection(conn, await conn.aextra_dejson()))
            except Exception as exc:
                log.error("alert connection '%s' is not available (%s)", conn_id, type(exc).__name__)
        return channels

    def notify(self, context: Any) -> None:
        """Sync path (DAG/task callbacks in the dag-processor)."""
        from pipeline.logs import quiet_third_party

        quiet_third_party()
        try:
            message = compose(self.event, context)
            failures = deliver(message, self._channels_sync())
        except Exception as exc:  # a broken alert must not break the callback machinery
            log.error("run-summary alert failed: %s", type(exc).__name__)
            return
        if failures:
            log.error("alert not delivered through: %s", ", ".join(failures))

    async def async_notify(self, context: Any) -> None:
        """Async path (deadline alerts in the triggerer): I/O runs in a worker thread."""
        channels = await self._channels_async()
        message = await asyncio.to_thread(compose, self.event, context)
        failures = await asyncio.to_thread(deliver, message, channels)
        if failures:
            log.error("deadline alert not delivered through: %s", ", ".join(failures))
