-- compact-common.lua: prepended to requeue.lua and restore-compact.lua (not run alone).
-- restore_compact(tag) moves one claim of a compact message back to the front of the list it came
-- from (RPUSH: consumed next), its first byte set to \2 (redelivered).
local function restore_compact(hash, index, tag)
  local entry = redis.call('HGET', hash, tag)
  redis.call('HDEL', hash, tag)
  redis.call('ZREM', index, tag)
  if not entry then return 0 end
  local cut = string.find(entry, '\0', 1, true)
  if not cut then return 0 end
  redis.call('RPUSH', string.sub(entry, 1, cut - 1), '\2' .. string.sub(entry, cut + 2))
  return 1
end
