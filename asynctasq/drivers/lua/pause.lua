-- pause: stop (ARGV[1] = "1") or restart (ARGV[1] = "0") serving a queue. Resuming
-- wakes idle workers so they pick up what waited meanwhile.
--
-- KEYS  one queue block
local K = block(1)
if ARGV[1] == "1" then
  redis.call("SET", K[PAUSED], "1")
else
  if redis.call("DEL", K[PAUSED]) == 1 then wake(K, WAKE_CAP) end
end
return 1
