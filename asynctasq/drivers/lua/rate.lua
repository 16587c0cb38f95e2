-- rate: take up to n tokens from a token bucket (asynctasq/ratelimit.py states the
-- rule), and up to `spare` more from its upper half. The bucket is a hash
-- {tokens, at}; it expires once it would be full again, so idle keys do not
-- accumulate. limit 0 (blocked) leaves it untouched.
--
-- KEYS  [1] the bucket
-- ARGV  [1] n  [2] limit (tokens per interval)  [3] interval (s)  [4] now
--       [5] burst (the bucket's size; "" = the limit)  [6] spare
-- Returns {tokens taken, seconds until the next token as a string ("0": n taken)}.
local n, limit = tonumber(ARGV[1]), tonumber(ARGV[2])
local interval, now = tonumber(ARGV[3]), tonumber(ARGV[4])
if limit <= 0 then return {0, tostring(interval)} end
local size = tonumber(ARGV[5]) or limit
local spare = tonumber(ARGV[6]) or 0
local rate = limit / interval
local state = redis.call("HMGET", KEYS[1], "tokens", "at")
local tokens, at = tonumber(state[1]) or size, tonumber(state[2]) or now
-- a caller behind the bucket's time neither refills it nor sets its time back
if now < at then now = at end
tokens = math.min(size, tokens + (now - at) * rate)
local taken = math.min(n, math.floor(tokens + 1e-9))
tokens = math.max(tokens - taken, 0)
local wait = 0
if taken < n then
    wait = (1 - tokens) / rate
elseif spare > 0 then
    local extra = math.min(spare, math.floor(tokens - size / 2 + 1e-9))
    if extra > 0 then
        taken = taken + extra
        tokens = math.max(tokens - extra, 0)
    end
end
redis.call("HSET", KEYS[1], "tokens", tostring(tokens), "at", tostring(now))
redis.call("PEXPIRE", KEYS[1], math.ceil(size / rate * 1000) + 1000)
return {taken, tostring(wait)}
