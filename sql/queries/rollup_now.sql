-- The store's clock, in nanoseconds: the version a refresh stamps, read before it reads.
SELECT toUnixTimestamp64Nano(now64(9)) AS now_ns
