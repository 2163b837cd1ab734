-- requeue.lua: put claimed messages back at the front of their queues, marked redelivered (reject with
-- requeue, and restoring what a closing consumer still holds, like kombu's restore_at_shutdown).
-- Preceded by restore-common.lua and claims-common.lua.
-- KEYS[1]  celeriac.unacked        hash
-- KEYS[2]  celeriac.unacked_index  zset
-- ARGV     delivery tags
-- Returns the number of messages restored (a tag already acked or restored counts 0).
local n = 0
for _, tag in ipairs(ARGV) do n = n + restore_own(KEYS[1], KEYS[2], tag) end
return n
