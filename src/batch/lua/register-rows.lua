-- Register rows as part of a batch. KEYS: meta, then each row's bucket of the row index. ARGV: identity, record
-- without its state (`<reference>` or `<reference>|<row key>`, batch/row-index.ts), ... A new row's state is `-`; a
-- record an outcome made before its row was registered (state only, no reference) gets the reference and keeps its
-- state. Returns how many rows were new (and counts them in rows_total).
local added = 0
for row = 2, #KEYS do
  local i = (row - 2) * 2 + 1
  if redis.call('HSETNX', KEYS[row], ARGV[i], '-' .. ARGV[i + 1]) == 1 then
    added = added + 1
  else
    local entry = redis.call('HGET', KEYS[row], ARGV[i])
    if string.len(entry) == 1 or string.sub(entry, 2, 2) == '|' then
      redis.call('HSET', KEYS[row], ARGV[i], string.sub(entry, 1, 1) .. ARGV[i + 1])
      added = added + 1
    end
  end
end
if added > 0 then redis.call('HINCRBY', KEYS[1], 'rows_total', added) end
return added
