-- schedule: the schedules of one queue (capability Schedules; docs/scheduling.md).
--
-- KEYS  one queue block (see _prelude.lua), then the queue's schedule hashes:
--       [NKEYS+1] definitions (id -> definition JSON)  [NKEYS+2] next_at (id -> the
--       next slot, a Python float repr)  [NKEYS+3] paused (id -> "1")
-- ARGV  [1] op, [2] schedule id, then by op:
--   save     [3] definition [4] next_at [5] "1" if paused: store unless the stored
--            definition is the same (then the stored next_at and pause are kept)
--   pause    [3] "1" to pause, "0" to resume: 1, or 0 for an unknown id
--   remove   1 if it was there, else 0
--   fire     [3] expected next_at [4] new next_at [5] n jobs, then n times
--            id, record, then n times score, entry (codec.enqueue_args' runs):
--            if next_at is still `expected`, set it and store the jobs (an id
--            already stored is left alone) in this one step; 1, else 0
local K = block(1)
local DEFS, NEXT, HALTED = KEYS[NKEYS + 1], KEYS[NKEYS + 2], KEYS[NKEYS + 3]
local op, id = ARGV[1], ARGV[2]

if op == "save" then
  if redis.call("HGET", DEFS, id) ~= ARGV[3] then
    redis.call("HSET", DEFS, id, ARGV[3])
    redis.call("HSET", NEXT, id, ARGV[4])
    if ARGV[5] == "1" then redis.call("HSET", HALTED, id, "1") else redis.call("HDEL", HALTED, id) end
  end
  return 1
elseif op == "pause" then
  if redis.call("HEXISTS", DEFS, id) == 0 then return 0 end
  if ARGV[3] == "1" then redis.call("HSET", HALTED, id, "1") else redis.call("HDEL", HALTED, id) end
  return 1
elseif op == "remove" then
  redis.call("HDEL", NEXT, id)
  redis.call("HDEL", HALTED, id)
  return redis.call("HDEL", DEFS, id)
elseif op == "fire" then
  if redis.call("HGET", NEXT, id) ~= ARGV[3] then return 0 end
  redis.call("HSET", NEXT, id, ARGV[4])
  local n, stored = tonumber(ARGV[5]), 0
  local RECORDS, WAITING = 6, 6 + 2 * tonumber(ARGV[5])
  for i = 0, n - 1 do
    local job_id = ARGV[RECORDS + 2 * i]
    if redis.call("HSETNX", K[JOBS], job_id, ARGV[RECORDS + 2 * i + 1]) == 1 then
      redis.call("ZADD", K[READY], ARGV[WAITING + 2 * i], ARGV[WAITING + 2 * i + 1])
      stored = stored + 1
    end
  end
  wake(K, stored)
  return 1
end
return redis.error_reply("schedule.lua: unknown op " .. tostring(op))
