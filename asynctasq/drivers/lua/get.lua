-- get: read jobs by id (read only).
--
-- KEYS  one queue block
-- ARGV  job ids
-- Returns [id, record, error, result, lease_until] per job found.
local K = block(1)
return fetch(K, ARGV, {})
