-- Late quality events keyed by the day they reached the collector first, so a read finds the
-- grades of its spans among the events of its own days, not among every event ever stored.
--
-- A grade is recorded after the call it grades has started, so it reaches the collector after that
-- span's start, give or take the clocks' difference; v_spans reads the events that arrived at most
-- a day before its range starts (sql/views/v_spans.sql). Copies of one event sent on two days land
-- on two keys: v_spans deduplicates them by aggregation (latest ingested), not by the key.
-- Existing rows are copied over (idempotent if interrupted), as 0017 did for llm_spans.
DROP TABLE IF EXISTS quality_events_v18;

CREATE TABLE quality_events_v18 AS quality_events
ENGINE = ReplacingMergeTree(ingested_at)
ORDER BY (tenant, toStartOfDay(ingested_at), trace_id, span_id, event_id);

INSERT INTO quality_events_v18 SELECT * FROM quality_events;

EXCHANGE TABLES quality_events AND quality_events_v18;

DROP TABLE quality_events_v18;
