-- Forgetting the keys means trying each on the stored packets again after an upgrade.
DROP TABLE channel_key;
