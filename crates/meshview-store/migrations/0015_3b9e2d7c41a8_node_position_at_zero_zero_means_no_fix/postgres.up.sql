-- A radio without a GPS fix reports latitude 0, longitude 0. MeshView stored that as the
-- node's position, so maps drew such nodes in the Gulf of Guinea and strict clients
-- rejected the node list. The writer no longer stores it; this clears what was stored.
UPDATE node SET last_lat = NULL, last_long = NULL WHERE last_lat = 0 AND last_long = 0;
