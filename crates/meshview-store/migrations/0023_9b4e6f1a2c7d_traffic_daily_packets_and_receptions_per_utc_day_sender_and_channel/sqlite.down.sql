-- The rollup goes with its table.
DROP TABLE traffic_daily;
