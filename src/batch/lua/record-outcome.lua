-- Record a row's final outcome once, settle its budget reservation, keep its results line until confirmed.
-- KEYS: the row's bucket of the row index, stats, budget, reservations, pending lines, meta, rows being collected
-- (`collecting`: the row's entry goes). ARGV: row key, status, tier, images, estimated USD, spent USD, provider, error
-- code, actual USD ('' when unknown), results line (`<ms now>|<json>`), the host when it is a provider's further
-- account (`openai@2`, else ''; its images and cost are counted apart), the row's identity (its field in the bucket)
-- and the record's ending (`|<row key>` or '', batch/row-index.ts). The outcome becomes the record's first character
-- (`c` or `f`). Returns -1 when the outcome was already recorded, else the batch's rows still pending. Keeps the time
-- of the latest outcome in meta `last_outcome_ms` (when a finished batch finished). KEYS[8], the batch's timeline
-- (batch/timeline.ts), counts the outcome in its minute; ARGV[14] and ARGV[15], the host and latency bucket of a
-- completed row's request ('' when not measured). ARGV[16]: the provenance of a completed row's images, as
-- `<valid>,<invalid>,<missing>` image counts ('' for none), counted in stats `c2pa:valid`, `c2pa:invalid`, `c2pa:missing`;
-- ARGV[17] '1' for a row completed with copies of an earlier output (counted in stats `reused`).
local record = redis.call('HGET', KEYS[1], ARGV[12])
local state = ARGV[2] == 'completed' and 'c' or 'f'
if record then
  if string.sub(record, 1, 1) ~= '-' then return -1 end
  redis.call('HSET', KEYS[1], ARGV[12], state .. string.sub(record, 2))
else
  redis.call('HSET', KEYS[1], ARGV[12], state .. ARGV[13])
end
redis.call('HDEL', KEYS[7], ARGV[1])
redis.call('HSET', KEYS[5], ARGV[1], ARGV[10])
local now = string.match(ARGV[10], '^(%d+)|')
if now then
  redis.call('HSET', KEYS[6], 'last_outcome_ms', now)
  local minute = tostring(math.floor(tonumber(now) / 60000))
  redis.call('HINCRBY', KEYS[8], minute .. ':' .. state, 1)
  if tonumber(ARGV[6]) ~= 0 then redis.call('HINCRBYFLOAT', KEYS[8], minute .. ':usd', ARGV[6]) end
  if state == 'f' then redis.call('HINCRBY', KEYS[8], minute .. ':f:' .. ARGV[8], 1) end
  if ARGV[15] ~= nil and ARGV[15] ~= '' then
    redis.call('HINCRBY', KEYS[8], minute .. ':l:' .. ARGV[14] .. ':' .. ARGV[15], 1)
  end
end
redis.call('HINCRBY', KEYS[2], ARGV[2], 1)
if ARGV[2] == 'completed' then
  redis.call('HINCRBYFLOAT', KEYS[2], 'cost_usd_total', ARGV[5])
  redis.call('HINCRBY', KEYS[2], 'images:' .. ARGV[3], ARGV[4])
  redis.call('HINCRBYFLOAT', KEYS[2], 'cost_usd:' .. ARGV[3], ARGV[5])
  redis.call('HINCRBYFLOAT', KEYS[2], 'cost_usd:' .. ARGV[7] .. ':' .. ARGV[3], ARGV[5])
  redis.call('HINCRBY', KEYS[2], 'images:' .. ARGV[7] .. ':' .. ARGV[3], ARGV[4])
  if ARGV[11] ~= nil and ARGV[11] ~= '' then
    redis.call('HINCRBY', KEYS[2], 'host_images:' .. ARGV[11], ARGV[4])
    redis.call('HINCRBYFLOAT', KEYS[2], 'host_cost_usd:' .. ARGV[11], ARGV[5])
  end
  if ARGV[9] ~= '' then
    redis.call('HINCRBYFLOAT', KEYS[2], 'actual_usd:' .. ARGV[3], ARGV[9])
    redis.call('HINCRBYFLOAT', KEYS[2], 'actual_usd:' .. ARGV[7] .. ':' .. ARGV[3], ARGV[9])
    redis.call('HINCRBYFLOAT', KEYS[2], 'estimated_usd_with_actual:' .. ARGV[3], ARGV[5])
    redis.call('HINCRBYFLOAT', KEYS[2], 'estimated_usd_with_actual:' .. ARGV[7] .. ':' .. ARGV[3], ARGV[5])
  end
  if ARGV[16] ~= nil and ARGV[16] ~= '' then
    local valid, invalid, missing = string.match(ARGV[16], '^(%d+),(%d+),(%d+)$')
    if valid ~= '0' then redis.call('HINCRBY', KEYS[2], 'c2pa:valid', valid) end
    if invalid ~= '0' then redis.call('HINCRBY', KEYS[2], 'c2pa:invalid', invalid) end
    if missing ~= '0' then redis.call('HINCRBY', KEYS[2], 'c2pa:missing', missing) end
  end
  if ARGV[17] == '1' then redis.call('HINCRBY', KEYS[2], 'reused', 1) end
else
  redis.call('HINCRBY', KEYS[2], 'failed_reason:' .. ARGV[8], 1)
end
local reserved = redis.call('HGET', KEYS[4], ARGV[1])
if reserved then
  redis.call('HINCRBYFLOAT', KEYS[3], 'reserved', -tonumber(reserved))
  redis.call('HDEL', KEYS[4], ARGV[1])
end
redis.call('HINCRBYFLOAT', KEYS[3], 'spent', ARGV[6])
local finished = tonumber(redis.call('HGET', KEYS[2], 'completed') or '0') + tonumber(redis.call('HGET', KEYS[2], 'failed') or '0')
-- Never below 0, which is not -1 (already recorded): an outcome may come before its row is counted (register-rows.lua).
return math.max(0, tonumber(redis.call('HGET', KEYS[6], 'rows_total') or '0') - finished)
