-- Record that {tenant}'s units {hours} ({minutes} long: 5 or 60) were recomputed by the refresh that
-- started at {version}. An hour summed from its units (rollup_merge) also records `basis`, the sum
-- of cityHash64(unit, unit's refresh) over the unit refreshes it was summed from ({units},
-- {versions}); rollup_dirty computes the same sum from the units' latest stamps, so the hour is
-- clean only while they are still those. A unit's basis is 0.
INSERT INTO rollup_stamps (tenant, hour, minutes, computed_at, basis)
SELECT {tenant:String}, h, {minutes:UInt8}, {version:UInt64},
       arraySum(arrayMap((u, v) -> if(toStartOfHour(u) = h, cityHash64(u, v), 0),
                         {units:Array(DateTime('UTC'))}, {versions:Array(UInt64)}))
FROM (SELECT arrayJoin({hours:Array(DateTime('UTC'))}) AS h)
