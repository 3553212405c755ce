-- No query reads the receptions by gateway alone (the gateways' counts come from the
-- `gateway_hourly` rollup), so MeshView's index on it goes, as on SQLite. PostgreSQL's
-- sender index never carried the payload (migration 5c7dbbf4643f), and its tables have no
-- rowid: the rest of this migration is SQLite's.
DROP INDEX idx_packet_seen_node_id;
