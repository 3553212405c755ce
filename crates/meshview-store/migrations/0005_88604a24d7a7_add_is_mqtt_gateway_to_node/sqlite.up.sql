-- After this revision the schema is exactly MeshView 3.0.5's (alembic head 23dad03d2e42)
-- minus its tutorial table; MeshView databases are adopted at this point of the chain.
ALTER TABLE node ADD COLUMN is_mqtt_gateway BOOLEAN;
