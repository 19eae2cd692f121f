-- wrk cross-check for bench/loadtest: tools/call echo with a unique JSON-RPC id per request on one
-- session (SID from the environment: initialize first, see bench/README.md "wrk cross-check").
-- Run with -t1 so the ids stay unique. Non-2xx replies and replies without our id are counted.
local sid = os.getenv("SID")
local pad = string.rep("x", tonumber(os.getenv("PAYLOAD") or "200"))
local n = 0
local headers = {
  ["content-type"] = "application/json",
  ["accept"] = "application/json, text/event-stream",
  ["mcp-session-id"] = sid,
}
-- Global: done() runs in another Lua state and reads it from each thread with thread:get.
bad = 0
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

request = function()
  n = n + 1
  local body = '{"jsonrpc":"2.0","id":' .. n .. ',"method":"tools/call","params":{"name":"echo","arguments":{"text":"tok:' .. n .. ':' .. pad .. '"}}}'
  return wrk.format("POST", nil, headers, body)
end

response = function(status, _, body)
  -- The reply must echo a token of this run (wrk does not say which request a reply belongs to).
  if status ~= 200 or not string.find(body, '"text":"tok:', 1, true) then bad = bad + 1 end
end

done = function(summary)
  local total = 0
  for _, t in ipairs(threads) do total = total + (t:get("bad") or 0) end
  io.write(string.format("bad replies (status or body): %d of %d\n", total, summary.requests))
end
