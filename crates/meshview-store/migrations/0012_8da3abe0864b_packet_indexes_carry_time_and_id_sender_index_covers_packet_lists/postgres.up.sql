-- Packet lists are ordered by (import_time_us DESC, id DESC): with the id in the
-- indexes, the scan is the order (no incremental sort of each list's rows). The
-- indexes keep MeshView's names.
--
-- Unlike SQLite's, the sender index does not carry the payload: a PostgreSQL index
-- entry is limited to about 2.7 kB, and a packet published to a broker (not sent by a
-- radio) can be bigger, which would fail this migration or, later, the writer's batch.
DROP INDEX idx_packet_from_node_time_us;
CREATE INDEX idx_packet_from_node_time_us ON packet (from_node_id, import_time_us DESC, id DESC);

DROP INDEX idx_packet_to_node_time_us;
CREATE INDEX idx_packet_to_node_time_us ON packet (to_node_id, import_time_us DESC, id DESC);

DROP INDEX idx_packet_portnum_import_time_us;
CREATE INDEX idx_packet_portnum_import_time_us ON packet
    (portnum, import_time_us DESC, id DESC);

DROP INDEX idx_packet_import_time_us;
CREATE INDEX idx_packet_import_time_us ON packet (import_time_us DESC, id DESC);
