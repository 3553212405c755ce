-- Without it, past windows are answered from the raw rows, whatever was purged.
DROP TABLE raw_horizon;
