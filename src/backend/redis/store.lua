-- store.lua: write a batch of task results in one call, each as Celery's RedisBackend.set does it
-- (SETEX, or SET when results never expire, then PUBLISH of the same JSON on the key's channel, which
-- waiting clients, Python's included, subscribe to).
-- KEYS[i]    celery-task-meta-<task id>
-- ARGV[1]    expiry in seconds (0: the key never expires)
-- ARGV[i+1]  the result meta JSON for KEYS[i]
-- Returns the number of results written.
local ttl = tonumber(ARGV[1])
for i, key in ipairs(KEYS) do
  local meta = ARGV[i + 1]
  if ttl > 0 then
    redis.call('SETEX', key, ttl, meta)
  else
    redis.call('SET', key, meta)
  end
  redis.call('PUBLISH', key, meta)
end
return #KEYS
