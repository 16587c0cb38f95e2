-- cancel_running: cancel an active job (capability RunningCancellation). Its lease
-- goes: the worker's next renewal does not hold it, and its outcome is refused.
--
-- KEYS  one queue block
-- ARGV  [1] now  [2] job id  [3] dead_letter_ttl  [4] dead_letter_max
-- Returns 1 if cancelled, 0 if the job is unknown or not active.
local K = block(1)
local now, id = tonumber(ARGV[1]), ARGV[2]
local m, data = load(K, id, now)
if not m or m[STATE] ~= "active" then return 0 end
redis.call("ZREM", K[ACTIVE], id)
finish(K, id, m, data, CANCELLED, "cancelled", now)
trim(K, CANCELLED, now, tonumber(ARGV[3]), tonumber(ARGV[4]))
return 1
