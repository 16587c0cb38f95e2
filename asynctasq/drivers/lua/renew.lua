-- renew: extend the leases a worker still holds.
--
-- KEYS  one queue block
-- ARGV  [1] worker id  [2] lease_until  [3..] job ids
-- Returns the ids whose lease was extended (active under that worker).
local K = block(1)
local worker, lease_until = ARGV[1], tonumber(ARGV[2])
local ids = {}
for i = 3, #ARGV do ids[#ids + 1] = ARGV[i] end
if #ids == 0 then return {} end
local records = redis.call("HMGET", K[JOBS], unpack(ids))
local held, leases = {}, {}
for i, id in ipairs(ids) do
  if records[i] then
    local m = meta_of(records[i])
    if m[STATE] == "active" and m[WORKER] == worker then
      held[#held + 1] = id
      leases[#leases + 1] = lease_until
      leases[#leases + 1] = id
    end
  end
end
if #leases > 0 then redis.call("ZADD", K[ACTIVE], unpack(leases)) end
return held
