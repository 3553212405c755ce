DROP TABLE node_public_key;
