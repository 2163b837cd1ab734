-- restore.lua: give back claims older than the visibility timeout (their consumer died), as kombu's
-- QoS.restore_visible does. Skipped while a Python worker holds kombu's unacked_mutex, so the two never
-- restore the same entry twice; the script itself is atomic, so it needs no mutex of its own.
-- Preceded by restore-common.lua.
-- KEYS[1]  unacked        hash
-- KEYS[2]  unacked_index  zset
-- KEYS[3]  unacked_mutex  string (redis-py Lock held by kombu during its restore)
-- ARGV[1]  ceiling: restore entries claimed at or before this epoch-seconds time
-- ARGV[2]  at most this many entries per call
-- Returns the number restored, or -1 when kombu's mutex is held.
if redis.call('EXISTS', KEYS[3]) == 1 then return -1 end
local tags = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local n = 0
for _, tag in ipairs(tags) do n = n + restore(KEYS[1], KEYS[2], tag) end
return n
