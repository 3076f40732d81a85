-- Merge the rollup tables column by column at every size, as 0005 does for llm_spans. The
-- refresher writes a unit's rows in several statements (one per slice), so each fill leaves a
-- handful of new parts that the engine merges while the next slices run, in the collector's own
-- memory; a horizontal merge reads every column of every source part at once, a vertical one a
-- column at a time (bench/results/experiments.md). Reads are unchanged. Skipped on a cluster like
-- every ALTER (collector/store/cluster.py): a server's merges do not live in the collector's memory.
ALTER TABLE spend_rollup MODIFY SETTING
    vertical_merge_algorithm_min_rows_to_activate = 1,
    vertical_merge_algorithm_min_columns_to_activate = 1;

ALTER TABLE task_rollup MODIFY SETTING
    vertical_merge_algorithm_min_rows_to_activate = 1,
    vertical_merge_algorithm_min_columns_to_activate = 1;
