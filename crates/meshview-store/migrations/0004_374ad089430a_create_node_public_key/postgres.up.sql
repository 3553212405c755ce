-- Every public key a node number has announced (hex), to spot impersonation.
CREATE TABLE node_public_key (
    id SERIAL PRIMARY KEY,
    node_id BIGINT NOT NULL,
    public_key VARCHAR NOT NULL,
    first_seen_us BIGINT,
    last_seen_us BIGINT
);
CREATE INDEX idx_node_public_key_node_id ON node_public_key (node_id);
CREATE INDEX idx_node_public_key_public_key ON node_public_key (public_key);
