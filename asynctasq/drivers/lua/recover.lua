-- recover: return jobs whose lease lapsed (their worker died or hung) to pending,
-- counting the attempt, or dead-letter them once they used max_attempts. Also the
-- queue's housekeeping: drops kept completed jobs past completed_ttl and bounds
-- the failed and cancelled sets (age and count), and audits a slice of its records
-- (audit() in _prelude.lua). Every part does bounded work.
--
-- KEYS  one queue block
-- ARGV  [1] now  [2] error recorded on a dead-lettered job  [3] most jobs to recover
--       [4] completed_ttl  [5] dead_letter_ttl  [6] dead_letter_max
-- Returns [how many went back to pending, then fetch()'s five fields per job this
-- call dead-lettered (its record as stored now, for its failed() hook)].
local K = block(1)
local now, reason, max = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local completed_ttl, dl_ttl, dl_max = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[6])

local expired = redis.call("ZRANGEBYSCORE", K[ACTIVE], "-inf", now, "LIMIT", 0, max)
local woken, dead = 0, {}
if #expired > 0 then
  local records = redis.call("HMGET", K[JOBS], unpack(expired))
  for i, id in ipairs(expired) do
    local m, data = read(K, id, records[i], now, true)
    if m and m[STATE] == "active" then
      if m[ATTEMPTS] >= m[MAX_ATTEMPTS] then
        finish(K, id, m, data, FAILED, "failed", now)
        redis.call("HSET", K[ERRORS], id, reason)
        dead[#dead + 1] = id
      else
        m[STATE], m[WORKER], m[RUN_AT] = "pending", false, now
        save(K, id, m, data)
        push_waiting(K, id, m, now)
        woken = woken + 1
      end
    end
  end
  redis.call("ZREM", K[ACTIVE], unpack(expired))
  local ended = {}
  for i, id in ipairs(dead) do ended[i] = {id, "failed"} end
  -- their dependants, in this script; one released to run is woken for, but it is not
  -- a job this recovery requeued (the count returned)
  wake(K, woken + parents_ended(K, ended, now))
end
local reply = fetch(K, dead, {woken})  -- before the trim may drop them

trim(K, COMPLETED, now, completed_ttl, -1)
trim(K, FAILED, now, dl_ttl, dl_max)
trim(K, CANCELLED, now, dl_ttl, dl_max)
audit(K, now)
return reply
