-- Register rows as part of a batch. KEYS: row index, meta. ARGV: identity, index entry (`<reference>` or
-- `<reference>|<row key>`, batch/row-index.ts), ... Returns how many were new (and counts them in rows_total).
local added = 0
for i = 1, #ARGV, 2 do
  added = added + redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[i + 1])
end
if added > 0 then redis.call('HINCRBY', KEYS[2], 'rows_total', added) end
return added
