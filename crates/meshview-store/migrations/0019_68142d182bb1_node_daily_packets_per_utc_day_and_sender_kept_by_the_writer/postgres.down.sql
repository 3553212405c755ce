-- The rollup goes with its table.
DROP TABLE node_daily;
