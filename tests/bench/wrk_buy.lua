-- wrk_buy.lua - POST /bazar/purchase/{id}, ids cycling over 0..BENCH_BOOKS-1 (default 7);
-- bench.sh restocks every book before each run so buys succeed (409s are counted).
dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "wrk_report.lua")

local books = tonumber(os.getenv("BENCH_BOOKS") or "7")
n = 0  -- global: setup() gives each thread its own start

function setup(thread)
  thread:set("n", math.random(0, books - 1))
end

function request()
  n = n + 1
  return wrk.format("POST", "/bazar/purchase/" .. (n % books))
end
