-- Fair-share tags of a batch's next jobs on one queue, at one level (batch/fair-share.ts): start-time fair queuing.
-- A batch's tags go on from where its last ones ended, but never behind the level's front (the lowest tag waiting
-- there now), so a batch arriving late starts level with the others and interleaves with their waiting jobs instead
-- of waiting behind them; each job moves the batch's tag on by 1/weight.
-- KEYS[1] the queue's prioritized sorted set (BullMQ: score = priority * 2^32 + counter), KEYS[2] the queue's
-- fair-share hash (same hash tag). ARGV[1] batch id, ARGV[2] the level's first BullMQ priority, ARGV[3] the level's
-- band (priorities in it), ARGV[4] the batch's weight, ARGV[5] jobs to tag.
-- The hash holds `epoch:<base>` (bumped whenever the level is found empty: every batch's saved tag is then stale) and
-- `<batch>:<base>` -> `<epoch>:<next tag>`.
-- Returns the first tag (a decimal string); the caller tags job i with floor(first + i / weight).
local base = tonumber(ARGV[2])
local band = tonumber(ARGV[3])
local shift = 4294967296
local low = string.format('%.0f', base * shift)
local high = string.format('%.0f', (base + band) * shift)
local front = redis.call('ZRANGEBYSCORE', KEYS[1], low, '(' .. high, 'WITHSCORES', 'LIMIT', 0, 1)
local epochField = 'epoch:' .. ARGV[2]
local epoch = tonumber(redis.call('HGET', KEYS[2], epochField) or '0')
local floorTag = 0
if #front == 0 then
  epoch = epoch + 1
  redis.call('HSET', KEYS[2], epochField, epoch)
else
  floorTag = math.floor(tonumber(front[2]) / shift) - base
end
local field = ARGV[1] .. ':' .. ARGV[2]
local start = floorTag
local saved = redis.call('HGET', KEYS[2], field)
if saved then
  local savedEpoch, savedNext = string.match(saved, '^(%d+):(.+)$')
  if tonumber(savedEpoch) == epoch and tonumber(savedNext) > start then start = tonumber(savedNext) end
end
local nextTag = start + tonumber(ARGV[5]) / tonumber(ARGV[4])
redis.call('HSET', KEYS[2], field, epoch .. ':' .. string.format('%.6f', nextTag))
return string.format('%.6f', start)
