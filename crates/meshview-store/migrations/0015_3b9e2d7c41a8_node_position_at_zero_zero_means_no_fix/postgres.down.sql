-- Nothing to undo: (0, 0) was never a position, and the older code reads NULL as "no
-- position" too.
SELECT 1;
