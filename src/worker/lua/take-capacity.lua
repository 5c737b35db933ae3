-- Take a row's images and tokens from its host's per-minute buckets, shared by every worker on every machine
-- (worker/host-capacity.ts): token buckets on Redis's clock, each holding a second of its rate or the row's demand,
-- whichever is more (a row of 4 images must fit). Both or neither are taken.
-- KEYS: the images bucket hash, the tokens bucket hash. ARGV: images, images per minute, tokens, tokens per minute
-- (a limit of 0: none). Returns 0 when taken, else the ms until the buckets hold the row's demand.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local function level(key, demand, perMinute)
  local capacity = math.max(demand, perMinute / 60)
  local tokens = tonumber(redis.call('HGET', key, 'tokens') or capacity)
  local at = tonumber(redis.call('HGET', key, 'at') or now)
  tokens = math.min(capacity, tokens + math.max(0, now - at) * perMinute / 60000)
  local wait = 0
  if tokens < demand then wait = math.ceil((demand - tokens) * 60000 / perMinute) end
  return tokens, wait
end
local buckets = {}
local longest = 0
for index = 1, 2 do
  local demand = tonumber(ARGV[index * 2 - 1])
  local perMinute = tonumber(ARGV[index * 2])
  if perMinute > 0 and demand > 0 then
    local tokens, wait = level(KEYS[index], demand, perMinute)
    buckets[#buckets + 1] = {KEYS[index], tokens, demand}
    if wait > longest then longest = wait end
  end
end
for _, bucket in ipairs(buckets) do
  local tokens = bucket[2]
  if longest == 0 then tokens = tokens - bucket[3] end
  redis.call('HSET', bucket[1], 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', bucket[1], 120000)
end
return longest
