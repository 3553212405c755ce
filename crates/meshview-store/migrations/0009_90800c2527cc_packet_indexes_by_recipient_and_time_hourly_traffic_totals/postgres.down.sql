DROP TABLE traffic_hourly_total;
CREATE INDEX idx_packet_from_node_id ON packet (from_node_id);
CREATE INDEX idx_packet_to_node_id ON packet (to_node_id);
DROP INDEX idx_packet_to_node_time_us;
