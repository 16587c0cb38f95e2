-- requeue: put a failed (dead-lettered) or cancelled job back to pending, due now,
-- with its attempts reset and its error cleared.
--
-- KEYS  one queue block
-- ARGV  [1] now  [2] job id
-- Returns 1 if requeued; 0 if the job is unknown, not finished that way, or its
-- unique_key is held by another unfinished job.
local K = block(1)
local now, id = tonumber(ARGV[1]), ARGV[2]
local m, data = load(K, id, now)
if not m then return 0 end
local from = ({failed = FAILED, cancelled = CANCELLED, expired = FAILED})[m[STATE]]
if not from then return 0 end
local key = m[UNIQUE_KEY]
if key then
  if redis.call("HEXISTS", K[UNIQUE], key) == 1 then return 0 end
  redis.call("HSET", K[UNIQUE], key, id)
end
redis.call("ZREM", K[from], id)
redis.call("HDEL", K[ERRORS], id)
m[STATE], m[ATTEMPTS], m[RUN_AT], m[FINISHED_AT] = "pending", 0, now, false
m[EXPIRES_AT] = nil  -- the operator wants it run: its ttl is spent
save(K, id, m, data)
push_waiting(K, id, m, now)
wake(K, 1)
return 1
