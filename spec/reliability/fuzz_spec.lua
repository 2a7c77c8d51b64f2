-- The libFuzzer targets of spec/fuzz/ (built by the Makefile into
-- build/fuzz): every input of spec/fuzz/regress/ first, then a bounded run
-- from the seeds of spec/fuzz/corpus/. FUZZ_SECONDS sets the run's length
-- per target (10 s here; `make fuzz` gives 60). The targets check
-- properties (see each one's header), so a run that ends without a report
-- is a run in which every property held.
local H = require "spec.helpers"

local SECONDS = tonumber(os.getenv("FUZZ_SECONDS")) or 10
local TARGETS = { "stat", "maps", "records", "key", "restart", "cmdline",
  "cgroup" }

local function bin(target)
  return H.BUILD .. "/fuzz/fuzz_" .. target
end

local function files_in(dir)
  local out = H.sh("ls -1 " .. H.q(dir) .. " 2>/dev/null")
  local files = {}
  for name in out:gmatch("[^\n]+") do files[#files + 1] = dir .. "/" .. name end
  return files
end

describe("fuzz targets #fuzz", function()
  for _, target in ipairs(TARGETS) do
    it("fuzz_" .. target .. " passes its regression inputs", function()
      local inputs = files_in(H.ROOT .. "/spec/fuzz/regress/" .. target)
      assert.is_true(#inputs > 0, "no regression inputs")
      local q = {}
      for i, f in ipairs(inputs) do q[i] = H.q(f) end
      local out, rc = H.sh(H.q(bin(target)) .. " " .. table.concat(q, " ") .. " 2>&1")
      assert.equal(0, rc, out)
      assert.matches("Executed .- in %d+ ms", out)
    end)
  end

  it("hold their properties for " .. SECONDS .. " s each", function()
    local work = H.BUILD .. "/fuzz"
    local runs, report = {}, {}
    -- two at a time: one per core
    local function start(target)
      local corpus = work .. "/corpus/" .. target
      local artifacts = work .. "/artifacts"
      H.sh("mkdir -p " .. H.q(corpus) .. " " .. H.q(artifacts))
      return H.start(("%s -max_total_time=%d -timeout=10 -rss_limit_mb=2048 "
        .. "-print_final_stats=1 -artifact_prefix=%s %s %s"):format(
          H.q(bin(target)), SECONDS, H.q(artifacts .. "/" .. target .. "-"),
          H.q(corpus), H.q(H.ROOT .. "/spec/fuzz/corpus/" .. target)))
    end
    local pending_targets = { table.unpack(TARGETS) }
    local running = {}
    while #pending_targets > 0 or next(running) do
      while #pending_targets > 0 and #running < 2 do
        local t = table.remove(pending_targets, 1)
        running[#running + 1] = { target = t, child = start(t) }
      end
      H.sh("sleep 0.2")
      for i = #running, 1, -1 do
        local r = running[i]
        if not r.child.alive() then
          runs[r.target] = r.child.output()
          table.remove(running, i)
        end
      end
    end
    for _, target in ipairs(TARGETS) do
      local out = runs[target]
      assert.is_nil(out:match("property failed[^\n]*\n[^\n]*"), out)
      assert.is_nil(out:match("ERROR: %a+Sanitizer[^\n]*"), out)
      assert.is_nil(out:match("ERROR: libFuzzer[^\n]*"), out)
      local execs = tonumber(out:match("stat::number_of_executed_units: (%d+)"))
      assert.is_not_nil(execs, "no final statistics from fuzz_" .. target .. ":\n" .. out)
      -- the run really ran: thousands of inputs, not a handful
      assert.is_true(execs > 1000, "fuzz_" .. target .. " ran " .. execs .. " inputs")
      report[#report + 1] = ("fuzz_%s: %d inputs in %d s"):format(target, execs, SECONDS)
    end
    io.stderr:write("\n" .. table.concat(report, "\n") .. "\n")
  end)
end)
