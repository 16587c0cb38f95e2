-- cancel: stop a job that has not started (pending, scheduled or blocked); its
-- dependants follow their on_parent_failure.
--
-- KEYS  one queue block
-- ARGV  [1] now  [2] job id  [3] dead_letter_ttl  [4] dead_letter_max
-- Returns 1 if cancelled, 0 if the job is unknown, active or finished (or its
-- record is corrupt: then it is dead-lettered).
local K = block(1)
local now, id = tonumber(ARGV[1]), ARGV[2]
local m, data = load(K, id, now)
if not m or (m[STATE] ~= "pending" and m[STATE] ~= "waiting") then return 0 end
unlink_waiting(K, id, m)
unblock(K, {id})
finish(K, id, m, data, CANCELLED, "cancelled", now)
wake(K, parents_ended(K, {{id, "cancelled"}}, now))
trim(K, CANCELLED, now, tonumber(ARGV[3]), tonumber(ARGV[4]))
return 1
