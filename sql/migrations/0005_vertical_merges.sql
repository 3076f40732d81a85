-- Merge llm_spans column by column (the "vertical" merge algorithm) at every size, not only past
-- 131,072 rows. A horizontal merge reads all ~40 columns of every source part at once: merging
-- 7-8 small parts took 180-210 MiB, and in the embedded store that memory is the collector's own,
-- so its RSS jumped by that much every time such a merge ran (the ±13% of the soak). Vertical:
-- ~35 MiB for the same merges (bench/results/experiments.md, "Soak RSS"). Reads are unchanged.
-- On a cluster this is skipped like every ALTER (collector/cluster.py): a server's merges do not
-- live in the collector's memory.
ALTER TABLE llm_spans MODIFY SETTING
    vertical_merge_algorithm_min_rows_to_activate = 1,
    vertical_merge_algorithm_min_columns_to_activate = 1;
