-- Classify incoming rows of a batch before enqueuing them (reads only).
-- KEYS: each row's bucket of the row index. ARGV: row key, source reference (`<manifest number>:<line>`), identity
-- (stem, case folded), ... A record is `<state><reference>` or `<state><reference>|<row key>`, state `-` (not
-- finished), `c` or `f` (batch/row-index.ts); an outcome recorded before the row was registered has no reference yet.
-- Returns per row '' (new), '=' (present, finished), '~' (present, unfinished), the existing reference (conflict), or
-- '!' and the other row key whose identity (job id, file names up to case) is the same: the row cannot be told apart.
local result = {}
for row = 1, #KEYS do
  local i = (row - 1) * 3 + 1
  local entry = redis.call('HGET', KEYS[row], ARGV[i + 2])
  if not entry then
    result[#result + 1] = ''
  else
    local state = string.sub(entry, 1, 1)
    local bar = string.find(entry, '|', 2, true)
    local reference = bar and string.sub(entry, 2, bar - 1) or string.sub(entry, 2)
    local owner = bar and string.sub(entry, bar + 1) or ARGV[i + 2]
    if owner ~= ARGV[i] then result[#result + 1] = '!' .. owner
    elseif reference ~= '' and reference ~= ARGV[i + 1] then result[#result + 1] = reference
    elseif state ~= '-' then result[#result + 1] = '='
    else result[#result + 1] = '~' end
  end
end
return result
