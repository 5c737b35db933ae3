-- Move a routed row from one holder to another (batch/row-hosts.ts): only from the holder named, so two movers can
-- never both win. KEYS[1] the batch's hosts hash, KEYS[2] its rows-handed-per-host hash. ARGV[1] row key, ARGV[2] the
-- expected holder ('' for a row no host has held yet, '*' for any), ARGV[3] the new holder.
-- A row handed to a host (not back to the route queue) is counted for that host.
-- Returns 1 when moved, 0 when another holder has the row.
local current = redis.call('HGET', KEYS[1], ARGV[1])
if ARGV[2] ~= '*' and (current or '') ~= ARGV[2] then return 0 end
redis.call('HSET', KEYS[1], ARGV[1], ARGV[3])
if ARGV[3] ~= 'route' and current ~= ARGV[3] then redis.call('HINCRBY', KEYS[2], ARGV[3], 1) end
return 1
