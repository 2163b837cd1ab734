-- inflight-common.lua: prepended to recover.lua and release.lua (not run alone). give_back(list,
-- entry) moves what a consumer's in-flight list holds back to the pop end of the list BLMOVE took it
-- from, oldest first, so it is consumed next, as if never taken: those messages were never claimed,
-- hence never handed to a task. `entry` is the list's value in the registry: <armed at, ms> " " <source>.
-- Returns the number moved and the time the list was last armed (epoch ms).
local function give_back(list, entry)
  local armed, source = string.match(entry or '', '^(%d+) (.+)$')
  if not source then return 0, 0 end
  local n = 0
  -- LEFT to RIGHT: the newest goes first, so the oldest ends at the pop end.
  while redis.call('LMOVE', list, source, 'LEFT', 'RIGHT') do n = n + 1 end
  return n, tonumber(armed)
end
