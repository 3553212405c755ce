DROP INDEX idx_packet_import_time_us;
CREATE INDEX idx_packet_import_time_us ON packet (import_time_us DESC);

DROP INDEX idx_packet_portnum_import_time_us;
CREATE INDEX idx_packet_portnum_import_time_us ON packet (portnum, import_time_us DESC);

DROP INDEX idx_packet_to_node_time_us;
CREATE INDEX idx_packet_to_node_time_us ON packet (to_node_id, import_time_us DESC);

DROP INDEX idx_packet_from_node_time_us;
CREATE INDEX idx_packet_from_node_time_us ON packet (from_node_id, import_time_us DESC);
