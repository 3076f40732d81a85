-- Stamp 5-minute units as changed, with the store's clock, after the rows that changed them are inserted.
INSERT INTO rollup_marks
SELECT tupleElement(p, 1), tupleElement(p, 2), toUnixTimestamp64Nano(now64(9))
FROM (SELECT arrayJoin(arrayZip({tenants:Array(String)}, {units:Array(DateTime('UTC'))})) AS p)
