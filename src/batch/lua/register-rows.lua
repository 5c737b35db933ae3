-- Register rows as part of a batch. KEYS: rows, meta, stems. ARGV: row key, source, identity (stem, case folded), ...
-- Returns how many were new (and counts them in rows_total).
local added = 0
for i = 1, #ARGV, 3 do
  local new = redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
  if new == 1 then redis.call('HSETNX', KEYS[3], ARGV[i + 2], ARGV[i]) end
  added = added + new
end
if added > 0 then redis.call('HINCRBY', KEYS[2], 'rows_total', added) end
return added
