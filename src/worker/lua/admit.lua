-- May this row be sent to its provider now? One round trip instead of a command per check (worker/admission.ts).
-- KEYS (all in the batch's hash slot): the row's bucket of the row index, batch meta, budget, reservations, canary rows, routed rows' holders,
-- rows being collected. ARGV: row key, estimated USD, mode ('submit': every check and the budget reservation; 'check':
-- the outcome only), the job's host for a routed row ('' otherwise), the job's host, the host's Retry-After still to
-- run in ms (read by the caller: that key lives in the host's slot), the row's identity (its field in the bucket).
-- Returns {'finished'} when the row's outcome is recorded; {'checked'} in mode 'check'; {'collecting'} when a
-- collection job of this host follows the row's accepted request (this job must not send it again); {'moved'} when a
-- routed row is held by another host or the route queue (batch/row-hosts.ts: this job must not send it); {'wait', ms}
-- while a Retry-After runs; {'paused'} when the batch is paused; {'canary'} when the batch's canary awaits approval
-- and this row is not one of it (batch/canary.ts); {'budget'} when the cap would be crossed (and marks the batch
-- budget_reached); else {'admitted'} with the estimate reserved (cost/lua/release.lua gives it back).
local record = redis.call('HGET', KEYS[1], ARGV[7])
if record and string.sub(record, 1, 1) ~= '-' then return {'finished'} end
if ARGV[3] == 'check' then return {'checked'} end
if redis.call('HGET', KEYS[7], ARGV[1]) == ARGV[5] then return {'collecting'} end
if ARGV[4] ~= '' and redis.call('HGET', KEYS[6], ARGV[1]) ~= ARGV[4] then return {'moved'} end
local wait = tonumber(ARGV[6])
if wait > 0 then return {'wait', wait} end
if redis.call('HGET', KEYS[2], 'paused') == '1' then return {'paused'} end
if redis.call('HGET', KEYS[2], 'canary_state') == 'awaiting' and redis.call('SISMEMBER', KEYS[5], ARGV[1]) == 0 then
  return {'canary'}
end
if redis.call('HEXISTS', KEYS[4], ARGV[1]) == 1 then return {'admitted'} end
local amount = tonumber(ARGV[2])
local cap = redis.call('HGET', KEYS[2], 'budget_usd')
if cap and cap ~= '' then
  local reserved = tonumber(redis.call('HGET', KEYS[3], 'reserved') or '0')
  local spent = tonumber(redis.call('HGET', KEYS[3], 'spent') or '0')
  if spent + reserved + amount > tonumber(cap) + 0.000001 then
    redis.call('HSET', KEYS[2], 'state', 'budget_reached')
    return {'budget'}
  end
end
redis.call('HINCRBYFLOAT', KEYS[3], 'reserved', amount)
redis.call('HSET', KEYS[4], ARGV[1], amount)
return {'admitted'}
