"""Every setting tierscope reads, in one place: argument > environment (TIERSCOPE_*) > default."""

from __future__ import annotations

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from tierscope.instrumentation.tiers import parse_tier_map


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TIERSCOPE_", extra="ignore")

    store: str = Field("chdb:.tierscope/store", description="chdb:PATH (embedded) or http(s)://user:pass@host:8123/db")
    host: str = Field("127.0.0.1", description="address the collector binds (OTLP and read API)")
    http_port: int = Field(4318, description="OTLP/HTTP + read API port")
    grpc_port: int = Field(4317, description="OTLP/gRPC port; 0 disables gRPC")
    api: str = Field("http://127.0.0.1:4318", description="collector URL the CLI and dashboard read from")
    prices_file: str = Field("prices.toml", description="price overrides for self-hosted or contract prices")
    tiers: str = Field("", description="model=tier pairs, comma-separated, overriding the price-band default")
    keep_content: bool = Field(False, description="keep prompt/completion content attributes (dropped by default)")
    spool_dir: str = Field("", description="the ingest log: where acknowledged spans wait for the store [beside a chdb store, else .tierscope/spool]")
    spool_max_mb: int = Field(1024, description="ingest log cap (spans acknowledged, not yet stored); past it, 429 with Retry-After")
    log_segment_mb: int = Field(64, description="ingest log segment size; a segment is deleted once all its spans are stored")
    feeder_batch_mb: int = Field(16, description="most request bytes the store feeder reads from the ingest log into one insert")
    ingest_workers: int = Field(-1, description="worker processes that decode, normalize and price big batches for the store feeder; -1 = one per core (default), 0 = the feeder's own thread")
    degraded_backlog_s: float = Field(60.0, description="/healthz says degraded when the oldest span waiting in the ingest log is older than this")
    read_wait_s: float = Field(5.0, description="a read-API call first waits up to this long for spans acknowledged before it to reach the store; 0 reads at once")
    tokens: str = Field("", description="token=tenant pairs, comma-separated; any token turns auth on")
    tokens_file: str = Field("", description="file of `token tenant` lines; any token turns auth on")
    dashboard_password: str = Field("", description="password the dashboard asks for (off when empty)")
    token: str = Field("", description="token the CLI and dashboard send to the collector's read API")
    alert_interval_s: float = Field(30.0, description="how often paired alert rules are evaluated; 0 turns the evaluator off")
    rollup_interval_s: float = Field(5.0, description="how often changed hours are recomputed into the hourly rollup; 0 turns it off (reads stay exact, only slower)")
    dashboard_port: int = Field(8501, description="Streamlit dashboard port")
    policy_file: str = Field("routing-policy.yaml", description="routing policy (role -> allowed tiers / pinned model / floor / latency SLO)")

    def spool_path(self) -> str:
        if self.spool_dir:
            return self.spool_dir
        if self.store.startswith("chdb:"):
            return self.store[len("chdb:"):].rstrip("/") + "-spool"
        return ".tierscope/spool"

    def tier_map(self) -> dict[str, str]:
        """`tiers` parsed as the agents parse TIERSCOPE_TIERS (model names lower-cased, tiers checked)."""
        return parse_tier_map(self.tiers)

