-- Merged duplicate key rows stay merged; they carried no extra information.
DROP INDEX uq_node_public_key_node_id_public_key;
DROP INDEX idx_packet_portnum_import_time_us;
DROP INDEX idx_traceroute_packet_id;
