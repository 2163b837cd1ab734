-- requeue.lua: put claimed messages back at the front of their queues, marked redelivered (reject with
-- requeue, and restoring what a closing consumer still holds, like kombu's restore_at_shutdown).
-- A tag is looked up in kombu's claims first, then in ours (compact messages). Preceded by
-- restore-common.lua and compact-common.lua.
-- KEYS[1]  unacked                 hash
-- KEYS[2]  unacked_index           zset
-- KEYS[3]  celeriac.unacked        hash
-- KEYS[4]  celeriac.unacked_index  zset
-- ARGV     delivery tags
-- Returns the number of messages restored (a tag already acked or restored counts 0).
local n = 0
for _, tag in ipairs(ARGV) do
  local restored = restore(KEYS[1], KEYS[2], tag)
  if restored == 0 then restored = restore_compact(KEYS[3], KEYS[4], tag) end
  n = n + restored
end
return n
