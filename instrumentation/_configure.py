"""``configure()``: the one place tierscope's instrumentation touches the OpenTelemetry SDK.

It builds a TracerProvider with the role processor and a batching OTLP exporter, and returns it.
The SDK and exporters are imported inside the function, so ``import tierscope.instrumentation``
stays API-only. Every setting follows OpenTelemetry's own environment variables, and an explicit
argument beats the variable:

* ``endpoint``: ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``, ``OTEL_EXPORTER_OTLP_ENDPOINT``
* ``protocol``: ``OTEL_EXPORTER_OTLP_TRACES_PROTOCOL``, ``OTEL_EXPORTER_OTLP_PROTOCOL``
  (``http/protobuf``, the default, or ``grpc``)
* ``headers``: ``OTEL_EXPORTER_OTLP_TRACES_HEADERS``, ``OTEL_EXPORTER_OTLP_HEADERS``
* ``service_name``: ``OTEL_SERVICE_NAME``
* ``resource_attributes``: ``OTEL_RESOURCE_ATTRIBUTES`` (the argument wins key by key)
* ``tiers``: ``TIERSCOPE_TIERS`` (the argument wins model by model)

The SDK itself honours the rest (``OTEL_SDK_DISABLED``, ``OTEL_TRACES_SAMPLER``, ``OTEL_BSP_*``…).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Literal

from opentelemetry import trace

from ._guard import logger
from ._instrument import prefetch_prices
from ._tier_map import set_tier_map
from ._tracing import use_tracer_provider

if TYPE_CHECKING:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExporter

__all__ = ["OtlpProtocol", "configure"]

OtlpProtocol = Literal["http/protobuf", "grpc"]
_PROTOCOLS: tuple[str, ...] = ("http/protobuf", "grpc")
_HTTP_TRACES_PATH = "/v1/traces"


def _protocol(explicit: str | None) -> str:
    if explicit is not None:
        if explicit not in _PROTOCOLS:
            raise ValueError(f"protocol must be one of {_PROTOCOLS}, got {explicit!r}")
        return explicit
    for name in ("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"):
        value = os.environ.get(name, "").strip().lower()
        if not value:
            continue
        if value in _PROTOCOLS:
            return value
        logger.warning("tierscope: %s=%r is not supported; using http/protobuf", name, value)
        break
    return "http/protobuf"


def _otlp_exporter(endpoint: str | None, protocol: str, headers: Mapping[str, str] | None) -> SpanExporter:
    # None leaves a setting to the exporter, which reads the OTEL_EXPORTER_OTLP_* variables itself.
    header_dict = dict(headers) if headers is not None else None
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

        return GrpcExporter(endpoint=endpoint, headers=header_dict)
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

    if endpoint is not None and not endpoint.rstrip("/").endswith(_HTTP_TRACES_PATH):
        endpoint = endpoint.rstrip("/") + _HTTP_TRACES_PATH  # a base URL, like OTEL_EXPORTER_OTLP_ENDPOINT
    exporter: SpanExporter = HttpExporter(endpoint=endpoint, headers=header_dict)
    return exporter


def configure(
    *,
    service_name: str | None = None,
    endpoint: str | None = None,
    protocol: OtlpProtocol | None = None,
    headers: Mapping[str, str] | None = None,
    resource_attributes: Mapping[str, str] | None = None,
    tiers: Mapping[str, str] | None = None,
    exporter: SpanExporter | None = None,
    set_global: bool = True,
) -> TracerProvider:
    """Set up tracing to a tierscope collector (or any OTLP endpoint) and return the TracerProvider.

    ``endpoint`` is the collector's base URL (``http://localhost:4318``; ``/v1/traces`` is added
    for HTTP) or ``host:port``/URL for gRPC. ``exporter`` replaces the OTLP exporter (for tests,
    or another backend). With ``set_global`` the provider becomes OpenTelemetry's global one, so
    other instrumentations' spans get roles too; tierscope's own spans use it either way.
    Call it once at startup, then ``instrument()``; call ``provider.shutdown()`` to flush at exit.
    """
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    from ._processor import RoleSpanProcessor

    if tiers is not None:
        set_tier_map(tiers)
    attributes: dict[str, str] = dict(resource_attributes or {})
    if service_name is not None:
        attributes[SERVICE_NAME] = service_name
    provider = TracerProvider(resource=Resource.create(attributes))
    provider.add_span_processor(RoleSpanProcessor())
    provider.add_span_processor(BatchSpanProcessor(exporter or _otlp_exporter(endpoint, _protocol(protocol), headers)))
    if set_global:
        trace.set_tracer_provider(provider)  # OpenTelemetry allows this once per process; it logs if refused
    use_tracer_provider(provider)
    prefetch_prices()
    return provider
