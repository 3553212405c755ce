-- Nothing to change: SQLite's sender index already carries portnum (migration
-- 8da3abe0864b). A statement, because every migration file must run one.
SELECT 1;
