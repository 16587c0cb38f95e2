-- slot: take or give back a slot of a concurrency key (capability ConcurrencyKeys,
-- docs/flow-control.md). The key's slots are a set of job ids in the job's queue's
-- hash slot; a holder whose job is no longer active (settled, released, its lease
-- lapsed and recovered) is dropped here before counting, so a crashed worker's slot
-- frees itself.
--
-- KEYS  [1] the queue's jobs hash  [2] the key's set of holders
-- ARGV  [1] job id  [2] limit  [3] "take" or "give"
-- Returns 1 when the job holds a slot (taken now, or held already), else 0.
local id, limit = ARGV[1], tonumber(ARGV[2])
if ARGV[3] == "give" then
  redis.call("SREM", KEYS[2], id)
  return 0
end
local holders = redis.call("SMEMBERS", KEYS[2])
local live, held, stale = 0, false, {}
for _, holder in ipairs(holders) do
  local m = decode(redis.call("HGET", KEYS[1], holder))
  if m and m[STATE] == "active" then
    live = live + 1
    if holder == id then held = true end
  else
    stale[#stale + 1] = holder
  end
end
if #stale > 0 then redis.call("SREM", KEYS[2], unpack(stale)) end
if held then return 1 end
if live >= limit then return 0 end
redis.call("SADD", KEYS[2], id)
return 1
