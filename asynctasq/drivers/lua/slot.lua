-- slot: take or give back a slot of a concurrency key (capability ConcurrencyKeys,
-- docs/flow-control.md). The key's slots are a set of job ids in the job's queue's
-- hash slot. A holder counts while its job is active (in the queue's `active` zset:
-- settled, released, cancelled or recovered jobs leave it), so a crashed worker's
-- slot frees itself once its lease lapses. Holders are looked at only when the set
-- is full: while it has room, a take is one SADD.
--
-- KEYS  [1] the queue's active zset  [2] the key's set of holders
-- ARGV  [1] job id  [2] limit  [3] "take" or "give"
-- Returns 1 when the job holds a slot (taken now, or held already), else 0.
local id, limit = ARGV[1], tonumber(ARGV[2])
if ARGV[3] == "give" then
  redis.call("SREM", KEYS[2], id)
  return 0
end
if redis.call("SISMEMBER", KEYS[2], id) == 1 then return 1 end
if redis.call("SCARD", KEYS[2]) >= limit then
  local stale = {}
  for _, holder in ipairs(redis.call("SMEMBERS", KEYS[2])) do
    if not redis.call("ZSCORE", KEYS[1], holder) then stale[#stale + 1] = holder end
  end
  if #stale > 0 then redis.call("SREM", KEYS[2], unpack(stale)) end
  if redis.call("SCARD", KEYS[2]) >= limit then return 0 end
end
redis.call("SADD", KEYS[2], id)
return 1
