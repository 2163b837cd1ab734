-- redrive.lua: move up to ARGV[1] dead letters of one queue back to the lists they were taken from,
-- oldest first, each pushed where producers push (LPUSH, as a fresh publish) exactly as it was
-- received but for the redelivered mark (a compact message's \2, a kombu envelope's
-- delivery_info.redelivered), so it counts as a first delivery again (its redelivery counter went with
-- dead-letter.lua). An entry is read and checked before it is popped, so an unreadable one stops the
-- run without losing anything.
-- KEYS[1]  celeriac.dead-letter.<queue>  list, newest first; entry = <meta JSON with "key"> "\n" <message>
-- ARGV[1]  max entries to move (>= 1)
-- Returns {moved, stopped}: stopped is 1 when the oldest remaining entry is unreadable, else 0.
-- The inverse of mark_redelivered (restore-common.lua) and of kombu's restore, which appends the key.
local function unmark(raw)
  local first = string.byte(raw, 1)
  if first == 2 then return '\1' .. string.sub(raw, 2) end
  if first == 1 then return raw end
  local di = string.find(raw, '"delivery_info":%s*{')
  if not di then return raw end
  local head, tail = string.sub(raw, 1, di - 1), string.sub(raw, di)
  local n
  tail, n = string.gsub(tail, '^("delivery_info":%s*{)"redelivered":%s*true,%s*', '%1', 1)
  if n == 0 then tail, n = string.gsub(tail, '^("delivery_info":%s*{)"redelivered":%s*true(%s*})', '%1%2', 1) end
  if n == 0 then tail = string.gsub(tail, '^("delivery_info":%s*{[^{}]-),%s*"redelivered":%s*true', '%1', 1) end
  return head .. tail
end

local moved = 0
local max = tonumber(ARGV[1])
while moved < max do
  local entry = redis.call('LINDEX', KEYS[1], -1)
  if not entry then break end
  local cut = string.find(entry, '\n', 1, true)
  if not cut then return {moved, 1} end
  local ok, meta = pcall(cjson.decode, string.sub(entry, 1, cut - 1))
  if not ok or type(meta) ~= 'table' or type(meta.key) ~= 'string' or meta.key == '' then return {moved, 1} end
  redis.call('RPOP', KEYS[1])
  redis.call('LPUSH', meta.key, unmark(string.sub(entry, cut + 1)))
  moved = moved + 1
end
return {moved, 0}
