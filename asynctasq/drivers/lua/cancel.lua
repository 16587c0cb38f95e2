-- cancel: stop a job that has not started (pending or scheduled).
--
-- KEYS  one queue block
-- ARGV  [1] now  [2] job id  [3] dead_letter_ttl  [4] dead_letter_max
-- Returns 1 if cancelled, 0 if the job is unknown, active or finished.
local K = block(1)
local now, id = tonumber(ARGV[1]), ARGV[2]
local m, data = load(K, id)
if not m or m[STATE] ~= "pending" then return 0 end
unlink_waiting(K, id, m)
finish(K, id, m, data, CANCELLED, "cancelled", now)
trim(K, CANCELLED, now, tonumber(ARGV[3]), tonumber(ARGV[4]))
return 1
