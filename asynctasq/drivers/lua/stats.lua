-- stats: one consistent snapshot of a queue's counts (read only).
--
-- KEYS  one queue block
-- ARGV  [1] now
-- Returns [depth, processing, scheduled, completed, failed, cancelled, paused]:
-- depth counts due scheduled jobs not yet moved to ready.
local K = block(1)
local now = tonumber(ARGV[1])
local due = redis.call("ZCOUNT", K[SCHEDULED], "-inf", now)
return {
  redis.call("ZCARD", K[READY]) + due,
  redis.call("ZCARD", K[ACTIVE]),
  redis.call("ZCARD", K[SCHEDULED]) - due,
  redis.call("ZCARD", K[COMPLETED]),
  redis.call("ZCARD", K[FAILED]),
  redis.call("ZCARD", K[CANCELLED]),
  redis.call("EXISTS", K[PAUSED]),
}
