-- renew: extend the leases a worker still holds.
--
-- KEYS  one queue block
-- ARGV  [1] worker id  [2] lease_until  [3] now (dates a corrupt record's burial)
--       [4..] job ids
-- Returns the ids whose lease was extended (active under that worker).
local K = block(1)
local worker, lease_until = ARGV[1], tonumber(ARGV[2])
local ids = {}
for i = 4, #ARGV do ids[#ids + 1] = ARGV[i] end
if #ids == 0 then return {} end
local records = redis.call("HMGET", K[JOBS], unpack(ids))
local held, leases, now = {}, {}, tonumber(ARGV[3])
for i, id in ipairs(ids) do
  local m = records[i] and read(K, id, records[i], now, false)
  if m and m[STATE] == "active" and m[WORKER] == worker then
    held[#held + 1] = id
    leases[#leases + 1] = lease_until
    leases[#leases + 1] = id
  end
end
if #leases > 0 then redis.call("ZADD", K[ACTIVE], unpack(leases)) end
return held
