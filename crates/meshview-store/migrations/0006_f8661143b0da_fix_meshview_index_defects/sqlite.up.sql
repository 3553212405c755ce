-- MeshView declares idx_traceroute_packet_id but never creates it: every traceroute
-- lookup by packet scans the table.
CREATE INDEX idx_traceroute_packet_id ON traceroute (packet_id);

-- Chat, firehose and telemetry read "packets of port P, newest first".
CREATE INDEX idx_packet_portnum_import_time_us ON packet (portnum, import_time_us DESC);

-- MeshView can hold the same (node, key) pair several times; merge duplicates into the
-- oldest row, keeping the widest first/last-seen span, before making the pair unique.
UPDATE node_public_key
SET first_seen_us = (
        SELECT MIN(d.first_seen_us) FROM node_public_key d
        WHERE d.node_id = node_public_key.node_id AND d.public_key = node_public_key.public_key),
    last_seen_us = (
        SELECT MAX(d.last_seen_us) FROM node_public_key d
        WHERE d.node_id = node_public_key.node_id AND d.public_key = node_public_key.public_key)
WHERE EXISTS (
    SELECT 1 FROM node_public_key d
    WHERE d.node_id = node_public_key.node_id AND d.public_key = node_public_key.public_key
      AND d.id <> node_public_key.id);
DELETE FROM node_public_key
WHERE id NOT IN (SELECT MIN(id) FROM node_public_key GROUP BY node_id, public_key);
CREATE UNIQUE INDEX uq_node_public_key_node_id_public_key
    ON node_public_key (node_id, public_key);
