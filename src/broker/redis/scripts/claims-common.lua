-- claims-common.lua: prepended to requeue.lua and restore-own.lua (not run alone), after
-- restore-common.lua. restore_own(tag) moves one of Celeriac's claims (celeriac.unacked: tag ->
-- <list key> "\0" <message>) back to the front of the list it came from (RPUSH: consumed next), marked
-- redelivered: a compact message by its first byte (\2), a kombu envelope as kombu's restore marks it;
-- its redelivery counter goes up by one (count_redelivery, restore-common.lua).
local function restore_own(hash, index, tag)
  local entry = redis.call('HGET', hash, tag)
  redis.call('HDEL', hash, tag)
  redis.call('ZREM', index, tag)
  if not entry then return 0 end
  local cut = string.find(entry, '\0', 1, true)
  if not cut then return 0 end
  local raw = string.sub(entry, cut + 1)
  local first = string.byte(raw, 1)
  if first == 1 or first == 2 then raw = '\2' .. string.sub(raw, 2) else raw = mark_redelivered(raw) end
  redis.call('RPUSH', string.sub(entry, 1, cut - 1), raw)
  count_redelivery(tag)
  return 1
end
