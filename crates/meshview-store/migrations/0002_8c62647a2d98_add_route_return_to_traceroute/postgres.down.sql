ALTER TABLE traceroute DROP COLUMN route_return;
