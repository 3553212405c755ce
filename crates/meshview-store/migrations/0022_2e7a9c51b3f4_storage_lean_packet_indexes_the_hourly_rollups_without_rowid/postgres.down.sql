CREATE INDEX idx_packet_seen_node_id ON packet_seen (node_id);
