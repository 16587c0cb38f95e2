-- get: read jobs by id (read only).
--
-- KEYS  one queue block
-- ARGV  [1] now (the client's clock: dates a corrupt record's burial)  [2..] job ids
-- Returns [id, record, error, result, lease_until] per job found. Read only, but for
-- a corrupt record: that is dead-lettered (see bury() in _prelude.lua).
local K = block(1)
local ids = {}
for i = 2, #ARGV do ids[#ids + 1] = ARGV[i] end
return fetch(K, ids, {}, tonumber(ARGV[1]))
