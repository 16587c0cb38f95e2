-- peek: the first phase of a claim across queues in different Cluster slots. Moves
-- due scheduled jobs to ready and reports the heads of the ready sets; the driver
-- merges the heads of every slot by priority, then claims (reserve.lua) the chosen
-- number from each. Changes no job's state.
--
-- KEYS  one block per queue (all in one slot)
-- ARGV  [1] now  [2] limit  [3] most promotions per queue
-- Returns per queue [index, next_due|"", n, (priority, run key)...n]; paused queues
-- report no heads.
local now, limit, promote_max = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for i = 1, #KEYS / NKEYS do
  local K = block(i)
  out[#out + 1] = i
  if redis.call("EXISTS", K[PAUSED]) == 1 then
    out[#out + 1] = ""
    out[#out + 1] = 0
  else
    promote(K, now, promote_max)
    local due = redis.call("ZRANGE", K[SCHEDULED], 0, 0, "WITHSCORES")
    out[#out + 1] = due[2] or ""
    local heads = redis.call("ZRANGE", K[READY], 0, limit - 1, "WITHSCORES")
    out[#out + 1] = #heads / 2
    for j = 1, #heads, 2 do
      out[#out + 1] = heads[j + 1]
      out[#out + 1] = string.sub(heads[j], 1, 16)
    end
  end
end
return out
