"""Cached loaders: every number on the dashboard comes from the collector's read API through here.

The collector owns the store (an embedded chdb store admits one process), so the dashboard never
opens it. Answers are cached for `TTL_SECONDS`; errors are not cached, so a collector that comes
back is picked up on the next rerun.
"""

from __future__ import annotations

from typing import Any, NoReturn

import streamlit as st

from tierscope.client import ApiClient, ApiError
from tierscope.settings import Settings

TTL_SECONDS = 30


def api_url() -> str:
    """The collector's URL: TIERSCOPE_API, else Settings' default (http://127.0.0.1:4318)."""
    return Settings().api.rstrip("/")


@st.cache_resource(show_spinner=False)
def _client(base_url: str, token: str) -> ApiClient:
    return ApiClient(base_url, timeout=60, token=token)


@st.cache_data(ttl=TTL_SECONDS, show_spinner=False)
def _get(base_url: str, path: str, params: tuple[tuple[str, str | tuple[str, ...]], ...]) -> dict[str, Any]:
    client = _client(base_url, Settings().token)  # TIERSCOPE_TOKEN: the tenant's read token, if auth is on
    return client.get(path, **{k: list(v) if isinstance(v, tuple) else v for k, v in params})


def _key(params: dict[str, Any]) -> tuple[tuple[str, str | tuple[str, ...]], ...]:
    """Hashable, order-free cache key; lists stay lists (filter values are sent as repeated params)."""
    flat = {k: tuple(v) if isinstance(v, (list, tuple)) else str(v) for k, v in params.items()
            if v not in (None, "", [], ())}
    return tuple(sorted(flat.items()))


def load(path: str, **params: Any) -> dict[str, Any]:
    """GET /api/v1/<path> (cached); raises ApiError."""
    return _get(api_url(), path, _key(params))


def fetch(path: str, what: str, **params: Any) -> dict[str, Any]:
    """`load` under a spinner; on failure an error box that says what to do, and the page stops."""
    try:
        with st.spinner(f"Loading {what}…"):
            return load(path, **params)
    except ApiError as exc:
        show_error(what, exc)


def show_error(what: str, exc: Exception) -> NoReturn:
    text = str(exc)
    if "cannot reach" in text:
        st.error(f"**The collector at {api_url()} is unreachable**, so {what} cannot be shown.\n\n"
                 "Start it with `tierscope serve`, or point the dashboard at a running one with "
                 "`TIERSCOPE_API=http://host:4318`.", icon=":material/cloud_off:")
    else:
        st.error(f"**Could not load {what}.** {text}", icon=":material/error:")
    st.stop()


def no_spans_yet() -> None:
    """The first-run empty state: nothing has been sent to the collector at all."""
    url = api_url()
    st.info(
        "### No spans yet\n"
        f"Point your OTLP exporter at **{url}** — for example "
        f"`OTEL_EXPORTER_OTLP_ENDPOINT={url}` (OTLP/HTTP; gRPC listens on port 4317) — "
        "and tag each LLM call with `tierscope.role` (planner, worker, formatter, ...).\n\n"
        "With tierscope's shims: `configure(service_name=\"my-agent\"); instrument()` and "
        "`with role(\"planner\"): ...` from `tierscope.instrumentation`. "
        "Spend, quality and routing findings appear here as soon as spans arrive.",
        icon=":material/sensors:",
    )


def nothing_in_scope(what: str, scope_text: str) -> None:
    st.info(f"No {what} for {scope_text}. Widen the time range or clear some filters in the sidebar.",
            icon=":material/filter_alt_off:")
