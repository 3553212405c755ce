DROP INDEX idx_packet_from_node_time_us;
CREATE INDEX idx_packet_from_node_time_us ON packet (from_node_id, import_time_us DESC, id DESC);
