-- Take one status poll from a provider's poll budget, shared by every worker (worker/poll-budget.ts): a token bucket
-- of `per minute` tokens with one second of burst, on Redis's clock. A 429 answered to a poll sets the provider's poll
-- Retry-After key, which holds every poller back until it runs out.
-- KEYS: the bucket hash, the poll Retry-After key. ARGV: polls per minute (0: no budget, only the Retry-After). Returns 0 when a poll may go now, else the
-- ms to wait before asking again.
local wait = redis.call('PTTL', KEYS[2])
if wait > 0 then return wait end
local perMinute = tonumber(ARGV[1])
if perMinute <= 0 then return 0 end
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local rate = perMinute / 60000
local capacity = math.max(1, perMinute / 60)
local tokens = tonumber(redis.call('HGET', KEYS[1], 'tokens') or capacity)
local at = tonumber(redis.call('HGET', KEYS[1], 'at') or now)
tokens = math.min(capacity, tokens + math.max(0, now - at) * rate)
local result = 0
if tokens >= 1 then
  tokens = tokens - 1
else
  result = math.ceil((1 - tokens) / rate)
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'at', tostring(now))
redis.call('PEXPIRE', KEYS[1], 120000)
return result
