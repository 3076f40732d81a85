"""`tierscope reprice|migrate`: maintain the store (through the collector, or opened directly)."""

from __future__ import annotations

import json

import click

from tierscope.cli.app import _api, _fail, _settings, main


@main.command()
@click.option("--since", help="Only spans starting at or after this ISO 8601 time.")
@click.option("--api", help="Collector URL; the collector reprices its own store.")
@click.option("--store", help="Reprice this store directly (no collector may be running on it).")
@click.option("--prices", "prices_file", help="Price overrides file [prices.toml].")
def reprice(since: str | None, api: str | None, store: str | None, prices_file: str | None) -> None:
    """Recompute stored costs after a genai-prices update or a prices.toml change."""
    from tierscope.collector.pricing.reprice import reprice_store
    from tierscope.collector.store.clickhouse import Store, StoreError

    if store:
        try:
            s = Store(store)
            s.migrate()
            result = reprice_store(s, _settings(prices_file=prices_file), since)
        except (StoreError, ValueError) as exc:
            _fail(str(exc))
        click.echo(json.dumps(result))
        return
    client = _api(api)
    try:
        response = client._http.post("/api/v1/admin/reprice", params={"since": since} if since else None,
                                     timeout=3600)
    except Exception:
        _fail(f"cannot reach the collector at {client.base_url}; start it, or pass --store to reprice directly")
    if response.status_code != 200:
        _fail(f"collector answered {response.status_code}: {response.text[:200]}")
    click.echo(json.dumps(response.json()))


@main.command()
@click.option("--store", help="Store URL [env TIERSCOPE_STORE].")
@click.option("--cluster", help="Print (with --apply, run) ON CLUSTER DDL for this ClickHouse cluster.")
@click.option("--database", default="default", show_default=True, help="Database for --cluster.")
@click.option("--apply", "apply_now", is_flag=True, help="With --cluster: run the DDL instead of printing it.")
def migrate(store: str | None, cluster: str | None, database: str, apply_now: bool) -> None:
    """Create or upgrade the store's schema (the collector also does this at start)."""
    from tierscope.collector.store.cluster import ClusterSchemaError, apply_cluster, cluster_statements
    from tierscope.collector.store.clickhouse import Store, StoreError

    try:
        if cluster and not apply_now:
            click.echo(";\n\n".join(cluster_statements(cluster, database)) + ";")
            return
        s = Store(_settings(store=store).store)
        try:
            applied = apply_cluster(s, cluster, database) if cluster else s.migrate()
        finally:
            s.close()
    except (ClusterSchemaError, StoreError) as exc:
        _fail(str(exc))
    click.echo("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
