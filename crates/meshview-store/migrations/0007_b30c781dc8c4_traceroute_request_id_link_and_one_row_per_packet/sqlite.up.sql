-- A reply's row links to the request it answers (Data.request_id), so the forward path
-- (requester + route + target) and the return path (target + route_back + requester)
-- can be drawn from either side. Legacy rows keep NULL.
ALTER TABLE traceroute ADD COLUMN request_id BIGINT;
CREATE INDEX idx_traceroute_request_id ON traceroute (request_id);

-- MeshView inserted a row per envelope, so retransmissions heard again by the same
-- gateway duplicated rows. Keep the first row per (packet, gateway), then enforce it.
DELETE FROM traceroute
WHERE packet_id IS NOT NULL AND gateway_node_id IS NOT NULL
  AND id NOT IN (
      SELECT MIN(id) FROM traceroute
      WHERE packet_id IS NOT NULL AND gateway_node_id IS NOT NULL
      GROUP BY packet_id, gateway_node_id);
CREATE UNIQUE INDEX uq_traceroute_packet_id_gateway_node_id
    ON traceroute (packet_id, gateway_node_id);
