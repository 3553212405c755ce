-- The rollup goes with its table.
DROP TABLE gateway_hourly;
