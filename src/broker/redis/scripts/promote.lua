-- promote.lua: move delayed messages that are due from the parking zset to the back of their queue
-- lists (LPUSH, as a fresh publish). Atomic, so several consumers may run it at once.
-- KEYS[1]  celeriac.delayed  zset, score = due time (epoch ms), member = <list key> "\0" <envelope>
-- ARGV[1]  now, epoch ms
-- ARGV[2]  at most this many messages per call
-- Returns {moved, next_due_ms}; next_due_ms is -1 when nothing else is parked.
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[1], 'LIMIT', 0, tonumber(ARGV[2]))
for _, member in ipairs(due) do
  local cut = string.find(member, '\0', 1, true)
  if cut then redis.call('LPUSH', string.sub(member, 1, cut - 1), string.sub(member, cut + 1)) end
  redis.call('ZREM', KEYS[1], member)
end
local nxt = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return {#due, nxt[2] or -1}
