ALTER TABLE node ADD COLUMN first_seen_us BIGINT;
ALTER TABLE node ADD COLUMN last_seen_us BIGINT;
CREATE INDEX idx_node_first_seen_us ON node (first_seen_us);
CREATE INDEX idx_node_last_seen_us ON node (last_seen_us);
