-- wrk script for POST /validate: the token comes in the Authorization header (given with -H), and
-- only answers that say {"valid": true} count as successes. wrk itself reports non-2xx answers;
-- 2xx answers without "valid":true are reported here as "Invalid answers: N". scripts/bench
-- counts both as errors.
wrk.method = "POST"

local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  invalid = 0
end

function response(status, headers, body)
  if status >= 200 and status < 300 and not string.find(body, '"valid":true', 1, true) then
    invalid = invalid + 1
  end
end

function done(summary, latency, requests)
  local n = 0
  for _, t in ipairs(threads) do
    n = n + t:get("invalid")
  end
  io.write(string.format("Invalid answers: %d\n", n))
end
