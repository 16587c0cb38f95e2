-- remove: delete one job that is not running (waiting or finished): its record,
-- error and result, its entry in the state's set, and its unique key if it holds it.
--
-- KEYS  one queue block
-- ARGV  [1] now  [2] job id
-- Returns 1 if deleted; 0 if the job is unknown or active (or its record is
-- corrupt: then it is dead-lettered, see bury() in _prelude.lua).
local K = block(1)
local now, id = tonumber(ARGV[1]), ARGV[2]
local m = load(K, id, now)
if not m or m[STATE] == "active" then return 0 end
local state = m[STATE]
if state == "pending" or state == "waiting" then
  unlink_waiting(K, id, m)
  unblock(K, {id})
elseif FINISHED_SETS[state] or state == "expired" then
  redis.call("ZREM", K[FINISHED_SETS[state] or FAILED], id)  -- expired sit with failed
else
  return 0  -- a state this script does not know how to unlink: leave it be
end
release_unique(K, m, id)
drop_records(K, {id})
if state == "pending" or state == "waiting" then  -- its dependants end as if it failed
  wake(K, parents_ended(K, {{id, "removed"}}, now))
elseif state == "completed" then
  remember_done(K, {id}, now)
end
return 1
