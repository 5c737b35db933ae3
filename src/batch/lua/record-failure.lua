-- A provider call failed in a way that may be an outage: count it; at the threshold, open the circuit breaker.
-- While the provider is failing (the breaker opened since its last success), a failure inside the current pause keeps
-- the breaker open at the same level, and a failure after it (a failed probe) opens it one level further: either way
-- the failure is the host's, not the row's (no attempt used: worker/error-policy.ts).
-- KEYS: failures, opens, open-until. ARGV: threshold, the first pause in ms.
-- Returns {failures, opens (0 while the breaker is closed), the pause in ms now (0 while closed)}.
local function pause(opens)
  return tonumber(ARGV[2]) * 2 ^ math.min(opens - 1, 4)
end
local opens = tonumber(redis.call('GET', KEYS[2]) or '0')
if opens > 0 and redis.call('PTTL', KEYS[3]) > 0 then
  return {0, opens, pause(opens)}
end
local failures = redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], 3600000)
if opens == 0 and failures < tonumber(ARGV[1]) then return {failures, 0, 0} end
redis.call('SET', KEYS[1], 0, 'PX', 3600000)
opens = redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], 3600000)
redis.call('SET', KEYS[3], '1', 'PX', pause(opens))
return {failures, opens, pause(opens)}
