-- Record that {tenant}'s hours {hours} were recomputed by the refresh that started at {version}.
INSERT INTO rollup_hours
SELECT {tenant:String}, arrayJoin({hours:Array(DateTime('UTC'))}), {version:UInt64}
