-- restore-compact.lua: give back claims of compact messages older than the visibility timeout (their
-- consumer died), the counterpart of restore.lua for our own claim pair. Only Celeriac reads these
-- keys and the script is atomic, so it needs no mutex. Preceded by compact-common.lua.
-- KEYS[1]  celeriac.unacked        hash
-- KEYS[2]  celeriac.unacked_index  zset
-- ARGV[1]  ceiling: restore entries claimed at or before this epoch-seconds time
-- ARGV[2]  at most this many entries per call
-- Returns the number restored.
local tags = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
local n = 0
for _, tag in ipairs(tags) do n = n + restore_compact(KEYS[1], KEYS[2], tag) end
return n
