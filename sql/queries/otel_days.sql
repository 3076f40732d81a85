-- Days (the clickhouseexporter's partitions) of an otel_traces table holding spans at or after
-- {since_ns}; the importer reads one day at a time, so each read prunes to one partition.
SELECT DISTINCT toDate(Timestamp) AS day
FROM {database:Identifier}.{table:Identifier}
WHERE Timestamp >= fromUnixTimestamp64Nano({since_ns:Int64})
ORDER BY day
