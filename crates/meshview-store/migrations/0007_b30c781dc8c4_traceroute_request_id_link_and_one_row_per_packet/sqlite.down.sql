DROP INDEX uq_traceroute_packet_id_gateway_node_id;
DROP INDEX idx_traceroute_request_id;
ALTER TABLE traceroute DROP COLUMN request_id;
