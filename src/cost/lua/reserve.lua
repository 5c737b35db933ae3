-- Reserve a row's estimate against its batch's budget cap, atomically across all workers.
-- KEYS: meta, budget, reservations. ARGV: row key, USD. Returns 1 when reserved (or already reserved), 0 when the
-- batch's cap would be crossed (and marks the batch budget_reached).
if redis.call('HEXISTS', KEYS[3], ARGV[1]) == 1 then return 1 end
local amount = tonumber(ARGV[2])
local cap = redis.call('HGET', KEYS[1], 'budget_usd')
if cap and cap ~= '' then
  local reserved = tonumber(redis.call('HGET', KEYS[2], 'reserved') or '0')
  local spent = tonumber(redis.call('HGET', KEYS[2], 'spent') or '0')
  if spent + reserved + amount > tonumber(cap) + 0.000001 then
    redis.call('HSET', KEYS[1], 'state', 'budget_reached')
    return 0
  end
end
redis.call('HINCRBYFLOAT', KEYS[2], 'reserved', amount)
redis.call('HSET', KEYS[3], ARGV[1], amount)
return 1
