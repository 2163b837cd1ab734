-- restore-common.lua: prepended to restore.lua, requeue.lua and restore-own.lua (not run alone).
-- count_redelivery(tag) adds one to the message's redelivery counter (celeriac.redeliveries.<tag>, see
-- fetch.lua), kept for a week from its last redelivery: a message a Python worker then consumes (and
-- acks where we do not look) leaves no counter behind for good. restore(tag) moves one entry of kombu's unacked hash back to the front of its queue list (RPUSH:
-- consumed next, as kombu's restore_visible does), marked redelivered the way kombu's
-- _do_restore_message marks it; mark_redelivered serves our own claims of kombu envelopes too.
local SEP = '\6\22'
local REDELIVERIES_TTL_SECONDS = 7 * 86400
local function count_redelivery(tag)
  local key = 'celeriac.redeliveries.' .. tag
  redis.call('INCR', key)
  redis.call('EXPIRE', key, REDELIVERIES_TTL_SECONDS)
end
local function queue_key(rk, priority)
  local p = tonumber(priority) or 0
  if p >= 9 then return rk .. SEP .. '9' elseif p >= 6 then return rk .. SEP .. '6'
  elseif p >= 3 then return rk .. SEP .. '3' end
  return rk
end
-- Sets properties.delivery_info.redelivered by editing the JSON text, so the envelope is otherwise kept
-- byte for byte (a cjson round trip would reorder keys and round big integers). Only a mark inside
-- delivery_info counts as one (fetch.lua looks up the redelivery counter of marked messages only; kombu
-- marks headers.redelivered too, which a redrive leaves in place).
local function mark_redelivered(env)
  if string.find(env, '"delivery_info":%s*{[^{}]-"redelivered":%s*true') then return env end
  local patched, n = string.gsub(env, '("delivery_info":%s*{)(%s*})', '%1"redelivered": true%2', 1)
  if n == 0 then patched, n = string.gsub(env, '("delivery_info":%s*{)', '%1"redelivered": true, ', 1) end
  return patched
end
local function restore(unacked, index, tag)
  local entry = redis.call('HGET', unacked, tag)
  redis.call('HDEL', unacked, tag)
  redis.call('ZREM', index, tag)
  if not entry then return 0 end
  local ok, decoded = pcall(cjson.decode, entry)
  if not ok or type(decoded) ~= 'table' or type(decoded[1]) ~= 'table' then return 0 end
  local env = string.match(entry, '^%[(.*),%s*"[^"]*",%s*"[^"]*"%]$')
  if not env then env = cjson.encode(decoded[1]) end
  local rk = type(decoded[3]) == 'string' and decoded[3] or ''
  local ex = type(decoded[2]) == 'string' and decoded[2] or ''
  local props = type(decoded[1]['properties']) == 'table' and decoded[1]['properties'] or {}
  local queues = {}
  if ex ~= '' then
    -- A named exchange: route through kombu's binding table (_kombu.binding.<exchange>) like _lookup.
    for _, member in ipairs(redis.call('SMEMBERS', '_kombu.binding.' .. ex)) do
      local mrk, mq = string.match(member, '^(.-)\6\22.-\6\22(.*)$')
      if mrk == rk and mq then queues[#queues + 1] = mq end
    end
  end
  if #queues == 0 then queues[1] = rk end
  env = mark_redelivered(env)
  for _, q in ipairs(queues) do redis.call('RPUSH', queue_key(q, props['priority']), env) end
  count_redelivery(tag)
  return 1
end
