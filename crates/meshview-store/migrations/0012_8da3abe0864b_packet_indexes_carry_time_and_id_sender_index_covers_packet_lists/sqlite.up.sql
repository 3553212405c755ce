-- Packet lists are ordered by (import_time_us DESC, id DESC). With only the time in an
-- index, SQLite passed every row of a list through a sorter to order ties by id (each
-- row copied into it with its payload); with the id in the index the scan is the order.
-- The indexes keep MeshView's names, so SQL and tools written for MeshView still find
-- them.
--
-- `packet` is in insertion order (its rowid), so one node's packets lie on as many
-- table pages as it has packets: a node page's list of 500 read ~500 scattered pages, a
-- 4 KiB pread each, a third of the reader's CPU under load. The sender index therefore
-- carries every column a list reads: a node's packets, newest first, come from a few
-- consecutive index pages, and a port filter (positions, telemetry) is checked there
-- before anything else is read. It costs about the packet table's size once more
-- (~420 MB for 3,000,000 packets).
DROP INDEX idx_packet_from_node_time_us;
CREATE INDEX idx_packet_from_node_time_us ON packet
    (from_node_id, import_time_us DESC, id DESC, portnum, to_node_id, channel, payload);

DROP INDEX idx_packet_to_node_time_us;
CREATE INDEX idx_packet_to_node_time_us ON packet (to_node_id, import_time_us DESC, id DESC);

DROP INDEX idx_packet_portnum_import_time_us;
CREATE INDEX idx_packet_portnum_import_time_us ON packet
    (portnum, import_time_us DESC, id DESC);

DROP INDEX idx_packet_import_time_us;
CREATE INDEX idx_packet_import_time_us ON packet (import_time_us DESC, id DESC);
