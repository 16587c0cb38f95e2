-- workers: the registry of live workers (heartbeats).
--
-- KEYS  [1] workers zset (id -> expiry)  [2] worker-info hash (id -> WorkerInfo)
-- ARGV  [1] "beat": [2] id [3] info [4] expires_at [5] now
--           "remove": [2] id
--           "list": [2] now
-- "list" returns the infos of live workers ordered by id; dead ones are forgotten.
local op = ARGV[1]

local function forget_dead(now)
  local dead = redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", now)
  if #dead > 0 then
    redis.call("HDEL", KEYS[2], unpack(dead))
    redis.call("ZREM", KEYS[1], unpack(dead))
  end
end

if op == "beat" then
  redis.call("HSET", KEYS[2], ARGV[2], ARGV[3])
  redis.call("ZADD", KEYS[1], ARGV[4], ARGV[2])
  forget_dead(tonumber(ARGV[5]))
  return 1
elseif op == "remove" then
  redis.call("ZREM", KEYS[1], ARGV[2])
  redis.call("HDEL", KEYS[2], ARGV[2])
  return 1
elseif op == "list" then
  forget_dead(tonumber(ARGV[2]))
  local ids = redis.call("ZRANGE", KEYS[1], 0, -1)
  if #ids == 0 then return {} end
  table.sort(ids)
  return redis.call("HMGET", KEYS[2], unpack(ids))
end
return redis.error_reply("workers.lua: unknown operation " .. tostring(op))
