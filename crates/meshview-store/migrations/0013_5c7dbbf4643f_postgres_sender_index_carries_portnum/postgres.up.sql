-- A node's positions or telemetry (`from_node_id` and `portnum`, newest first) walked
-- the sender index and fetched every packet of the node from the table to test its
-- port: on a 3,000,000-packet database, ~1,500 pages per list and nearly half of
-- the server's time under the mixed load. With portnum as a key column the index tests
-- it itself, and only matching packets are fetched. (SQLite's sender index has carried
-- portnum since the previous migration.)
DROP INDEX idx_packet_from_node_time_us;
CREATE INDEX idx_packet_from_node_time_us ON packet
    (from_node_id, import_time_us DESC, id DESC, portnum);
