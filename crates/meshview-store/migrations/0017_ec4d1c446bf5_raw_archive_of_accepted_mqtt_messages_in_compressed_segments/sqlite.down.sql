-- The archive goes with its table.
DROP TABLE archive_segment;
