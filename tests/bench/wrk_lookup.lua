-- wrk_lookup.lua - GET /bazar/info/{id} with a random id in 0..BENCH_BOOKS-1 per request
-- (the scale runs: lookups spread over a whole 100,000-book catalog).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_report.lua")

local books = tonumber(os.getenv("BENCH_BOOKS") or "7")

function init(args)
  math.randomseed(os.time() + math.floor(os.clock() * 1e6))
end

function request()
  return wrk.format("GET", "/bazar/info/" .. math.random(0, books - 1))
end
