-- Take a row's requests, images and tokens from its host's per-minute buckets, shared by every worker on every machine
-- (worker/host-capacity.ts): token buckets on Redis's clock, each holding a second of its rate or the row's demand,
-- whichever is more (a row of 4 images must fit). All or none are taken.
-- KEYS: the requests, images and tokens bucket hashes. ARGV: for each in that order, the row's demand and the limit a
-- minute (a limit of 0: none). Returns 0 when taken, else the ms until the buckets hold the row's demand.
local time = redis.call('TIME')
local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
local buckets = {}
local longest = 0
for index = 1, #KEYS do
  local demand = tonumber(ARGV[index * 2 - 1])
  local perMinute = tonumber(ARGV[index * 2])
  if perMinute > 0 and demand > 0 then
    local capacity = math.max(demand, perMinute / 60)
    local tokens = tonumber(redis.call('HGET', KEYS[index], 'tokens') or capacity)
    local at = tonumber(redis.call('HGET', KEYS[index], 'at') or now)
    tokens = math.min(capacity, tokens + math.max(0, now - at) * perMinute / 60000)
    if tokens < demand then
      local wait = math.ceil((demand - tokens) * 60000 / perMinute)
      if wait > longest then longest = wait end
    end
    buckets[#buckets + 1] = {KEYS[index], tokens, demand}
  end
end
for _, bucket in ipairs(buckets) do
  local tokens = bucket[2]
  if longest == 0 then tokens = tokens - bucket[3] end
  redis.call('HSET', bucket[1], 'tokens', tostring(tokens), 'at', tostring(now))
  redis.call('PEXPIRE', bucket[1], 120000)
end
return longest
