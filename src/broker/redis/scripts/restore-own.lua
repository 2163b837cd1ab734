-- restore-own.lua: give back Celeriac's claims older than the visibility timeout (their consumer died
-- or lost Redis for that long: a living one refreshes its claims), the counterpart of restore.lua for
-- our own claim pair. Only Celeriac reads these keys and the script is atomic, so it needs no mutex.
-- Preceded by restore-common.lua and claims-common.lua.
-- KEYS[1]  celeriac.unacked        hash  delivery_tag -> <list key> "\0" <message>
-- KEYS[2]  celeriac.unacked_index  zset  delivery_tag scored by claim time (epoch seconds)
-- ARGV[1]  ceiling: restore entries claimed at or before this epoch-seconds time
-- ARGV[2]  at most this many entries per call
-- Returns the number restored.
local tags = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local n = 0
for _, tag in ipairs(tags) do n = n + restore_own(KEYS[1], KEYS[2], tag) end
return n
