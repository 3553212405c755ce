CREATE INDEX idx_node_link_last_seen ON node_link (last_seen_us);
DROP INDEX idx_node_link_source_to_seen;
DROP INDEX idx_node_link_source_seen;
