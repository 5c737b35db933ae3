-- A provider call failed in a way that may be an outage: count it; at the threshold, open the circuit breaker.
-- KEYS: failures, opens. ARGV: threshold. Returns {failures, opens (0 when still closed)}.
local failures = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], 3600000)
if failures < tonumber(ARGV[1]) then return {failures, 0} end
redis.call('SET', KEYS[1], 0, 'PX', 3600000)
local opens = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 3600000)
return {failures, opens}
