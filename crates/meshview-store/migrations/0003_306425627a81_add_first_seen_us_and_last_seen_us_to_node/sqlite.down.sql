-- Indexed columns cannot be dropped in place: drop their indexes first.
DROP INDEX idx_node_last_seen_us;
DROP INDEX idx_node_first_seen_us;
ALTER TABLE node DROP COLUMN last_seen_us;
ALTER TABLE node DROP COLUMN first_seen_us;
