-- Merge llm_spans column by column (the "vertical" merge algorithm) at every size, not only past
-- ClickHouse's default row threshold. A horizontal merge reads all the columns of every source part
-- at once, and in the embedded store that memory is the collector's own, so its RSS jumped every
-- time such a merge ran; a vertical merge holds one column at a time (bench/results/experiments.md,
-- "Soak RSS"). Reads are unchanged. On a cluster this is skipped like every ALTER
-- (collector/store/cluster.py): a server's merges do not live in the collector's memory.
ALTER TABLE llm_spans MODIFY SETTING
    vertical_merge_algorithm_min_rows_to_activate = 1,
    vertical_merge_algorithm_min_columns_to_activate = 1;
