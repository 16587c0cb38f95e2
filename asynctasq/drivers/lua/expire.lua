-- expire: the background expiry sweep (capability Expiry, docs/flow-control.md):
-- waiting jobs whose ttl ran out (expires_at <= now) move to expired, as reserve.lua
-- moves the ones it meets: kept in the failed set, the error saying when, their
-- unique key freed, their dependants following their policy. Bounded work.
--
-- KEYS  one queue block
-- ARGV  [1] now  [2] most index entries to read
-- Returns how many jobs moved to expired.
local K = block(1)
local now, max = tonumber(ARGV[1]), tonumber(ARGV[2])
local EXPIRED_PREFIX = "expired: not started before its ttl ran out at "  -- expiry.py

local due = redis.call("ZRANGEBYSCORE", K[EXPIRING], "-inf", now, "LIMIT", 0, max)
if #due == 0 then return 0 end
local records = redis.call("HMGET", K[JOBS], unpack(due))
local ended = {}
for i, id in ipairs(due) do
  -- an entry whose job started, finished, was removed or requeued is only dropped
  local m, data = read(K, id, records[i], now, false)
  local ttl_end = m and m[EXPIRES_AT]
  if m and m[STATE] == "pending" and type(ttl_end) == "number" and ttl_end <= now then
    unlink_waiting(K, id, m)
    finish(K, id, m, data, FAILED, "expired", now)
    redis.call("HSET", K[ERRORS], id, EXPIRED_PREFIX .. string.format("%.6f", ttl_end))
    ended[#ended + 1] = {id, "expired"}
  end
end
redis.call("ZREM", K[EXPIRING], unpack(due))
local moved = #ended
wake(K, parents_ended(K, ended, now))  -- (appends the dependants it ends)
return moved
