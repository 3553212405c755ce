-- The return leg of a traceroute (the reply's route_back and snr_back, as a
-- RouteDiscovery), linked to the request it answers. Nullable: requests have none.
ALTER TABLE traceroute ADD COLUMN route_return BLOB;
