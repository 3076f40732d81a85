"""Issue 5: tokens map to tenants stamped by the server; each tenant reads only its own spend;
no auth means loopback only; hostile names are data, never SQL."""

from __future__ import annotations

import json

import grpc
import httpx
import pytest
from click.testing import CliRunner
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from support import free_port, running_collector
from test_durability import batch
from tierscope.cli import main
from tierscope.client import ApiClient, ApiError
from tierscope.collector.server.auth import AuthConfigError, parse_tokens
from tierscope.collector.server.service import Collector
from tierscope.settings import Settings

ALICE, BOB = "alice-token-0123456789", "bob-token-0123456789ab"


def _post(url, body, token=None, tenant_header=None):
    headers = {"content-type": "application/x-protobuf"}
    if token:
        headers["authorization"] = f"Bearer {token}"
    if tenant_header:
        headers["x-tenant"] = tenant_header  # a client trying to pick its tenant: ignored
    return httpx.post(f"{url}/v1/traces", content=body, headers=headers, timeout=30)


def test_tenants_are_stamped_by_the_server_and_isolated_over_http_and_grpc(tmp_path):
    with running_collector(tmp_path / "s", tokens=f"{ALICE}=acme,{BOB}=globex") as collector:
        url = collector.url
        assert _post(url, batch(1, spans=10)).status_code == 401
        assert _post(url, batch(1, spans=10), token="wrong-token-0123456789").status_code == 401
        assert _post(url, batch(1, spans=10), token=ALICE, tenant_header="globex").status_code == 200
        assert _post(url, batch(2, spans=7), token=BOB).status_code == 200
        channel = grpc.insecure_channel(f"127.0.0.1:{collector.settings.grpc_port}")
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as denied:
            stub.Export(ExportTraceServiceRequest.FromString(batch(3, spans=5)))
        assert denied.value.code() == grpc.StatusCode.UNAUTHENTICATED
        stub.Export(ExportTraceServiceRequest.FromString(batch(3, spans=5)), metadata=(("authorization", f"Bearer {BOB}"),))
        channel.close()
        alice = ApiClient(url, token=ALICE).get("spend")["total"]["spans"]
        bob = ApiClient(url, token=BOB).get("spend")["total"]["spans"]
        bob_trace = ApiClient(url, token=BOB).get(f"traces/{1:032x}")["spans"]
        with pytest.raises(ApiError, match="401"):
            ApiClient(url).get("spend")
    assert (alice, bob) == (10, 12)
    assert bob_trace == []  # alice's trace id is invisible to bob


def test_no_auth_refuses_to_bind_beyond_loopback(tmp_path):
    with pytest.raises(AuthConfigError, match="refusing to bind 0.0.0.0 without auth"):
        Collector(Settings(store=f"chdb:{tmp_path / 's'}", host="0.0.0.0", prices_file=""))
    with pytest.raises(AuthConfigError):
        parse_tokens("short=acme")
    assert parse_tokens(f"{ALICE}=acme") == {ALICE: "acme"}


def test_dashboard_refuses_to_serve_beyond_loopback_without_a_login(monkeypatch):
    monkeypatch.delenv("TIERSCOPE_DASHBOARD_PASSWORD", raising=False)
    result = CliRunner().invoke(main, ["dashboard", "--host", "0.0.0.0", "--port", str(free_port())])
    assert result.exit_code == 1
    assert "refusing to serve the dashboard on 0.0.0.0 without a login" in result.output


HOSTILE = ["'; DROP TABLE llm_spans; --", "{x:String}", "line\nbreak\ttab", "r" * 10_000, "ünï©ødé 🚀", "\\' OR 1=1"]


def test_hostile_role_team_and_model_names_round_trip_as_data(tmp_path):
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    from test_ingest_semantics import _finished_spans, _llm

    specs = [_llm(model=h[:1024], role=h, **{"tierscope.team": h}) for h in HOSTILE]
    with running_collector(tmp_path / "s") as collector:
        r = httpx.post(f"{collector.url}/v1/traces", content=encode_spans(_finished_spans(specs)).SerializeToString(),
                       headers={"content-type": "application/x-protobuf"})
        assert r.status_code == 200
        api = ApiClient(collector.url)
        roles = {row["role"] for row in api.get("spend", by="role")["rows"]}
        for h in HOSTILE:
            only = api.get("spend", by="role,team", role=[h[:1024]])
            assert only["total"]["spans"] == 1, h[:40]
        listed = api.get("spans", model=HOSTILE[0])["rows"]
        cli = CliRunner().invoke(main, ["spend", "--by", "role,team,model", "--format", "json", "--api", collector.url,
                                        "--role", HOSTILE[0]])
        bad = httpx.get(f"{collector.url}/api/v1/spend", params={"by": "role; DROP TABLE llm_spans"})
        still = api.get("spend")["total"]["spans"]
    assert roles == {h[:1024] for h in HOSTILE}
    assert [row["role"] for row in listed] == [HOSTILE[0]]
    assert cli.exit_code == 0 and json.loads(cli.output)["total"]["spans"] == 1
    assert bad.status_code == 400 and "by may only name" in bad.json()["error"]
    assert still == len(HOSTILE)
