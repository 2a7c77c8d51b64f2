-- The command-line tool, bin/restartmanager, run as a subprocess against
-- real processes: exit statuses, readable and JSON output, run's restart.
local H = require "spec.helpers"

describe("bin/restartmanager", function()
  local json
  local dir
  local BIN = H.ROOT .. "/bin/restartmanager"

  setup(function()
    json = require "restartmanager.json"
  end)

  local fx, file, holder
  before_each(function()
    fx = H.scratch { fifo = true }
    dir, file, holder = fx.dir, fx.file, fx.holder
  end)

  after_each(function() fx.cleanup() end)

  local cli = H.cli



  local gone, untouched = H.gone, H.untouched

  -- the cooperative app (H.app), registered for restart, holding data
  local function app(data)
    return fx.app { data = data }
  end

  describe("usage", function()
    it("prints help and exits 0; a wrong command line exits 2", function()
      local out, _, rc = cli("--help")
      assert.equal(0, rc)
      for _, c in ipairs { "list", "plan", "close", "run" } do
        assert.matches("\n   " .. c .. " ", out)
      end
      local _, err
      _, err, rc = cli("")
      assert.equal(2, rc)
      assert.matches("command is required", err)
      _, err, rc = cli("list")
      assert.equal(2, rc)
      assert.matches("missing argument 'paths'", err)
      _, err, rc = cli("close --frce /x")
      assert.equal(2, rc)
      assert.matches("unknown option '%-%-frce'", err)
      _, err, rc = cli("close --timeout soon /x")
      assert.equal(2, rc)
      assert.matches("option '%-%-timeout': a non%-negative number of seconds "
        .. "expected, got 'soon'", err)
      _, err, rc = cli("close --spare-type gui /x")
      assert.equal(2, rc)
      assert.matches("unknown app type 'gui'", err)
      out, _, rc = cli("--version")
      assert.equal(0, rc)
      assert.matches("^restartmanager %d+%.%d+%.%d+ %(linux backend%)\n$", out)
    end)

    it("runs as a script through its #! line", function()
      local out, rc = H.sh("env " .. H.lua_env() .. " " .. H.q(BIN)
        .. " --version")
      assert.equal(0, rc)
      assert.matches("^restartmanager ", out)
    end)
  end)

  describe("list", function()
    it("shows who uses the files as a table", function()
      local f = file("held")
      local h = holder("open " .. H.q(f))
      local out, err, rc = cli("list " .. H.q(f))
      assert.equal(0, rc, err)
      assert.matches("^PID +TYPE +RESTARTABLE +NAME\n", out)
      assert.matches("\n" .. h.pid .. " +%a+ +no +holder\n", out)
      assert.matches("\nreboot reasons: none\n", out)
      assert.is_true(untouched(h.pid))
      out, err, rc = cli("list " .. H.q(file("unused")))
      assert.equal(0, rc, err)
      -- (or "among those inspected", where processes are hidden even from
      -- root, as a container's init)
      assert.matches("^no application [%a ]*uses these files\n", out)
    end)

    it("writes JSON with --json", function()
      local f = file("held")
      local h1, h2 = holder("open " .. H.q(f)), holder("open " .. H.q(f))
      local out, err, rc = cli("list --json " .. H.q(f))
      assert.equal(0, rc, err)
      local doc = assert(json.decode(out))
      assert.same({}, doc.reboot_reasons)
      assert.equal(2, #doc.apps)
      local pids = {}
      for _, a in ipairs(doc.apps) do
        pids[a.pid] = a
        assert.equal("holder", a.name)
        assert.is_false(a.restartable)
        assert.same({ "running" }, a.status)
        assert.equal(H.BUILD .. "/helpers/holder", a.executable)
      end
      assert.truthy(pids[h1.pid])
      assert.truthy(pids[h2.pid])
    end)

    it("exits 1 with the message when the list fails", function()
      -- an empty path: ERROR_BAD_ARGUMENTS
      local _, err, rc = cli("list ''")
      assert.equal(1, rc)
      assert.matches("^restartmanager: ERROR_BAD_ARGUMENTS %(160%)", err)
    end)

    it("lists, for a directory, a process working in it and one holding a "
      .. "file beneath it", function()
      H.sh("mkdir -p " .. H.q(dir .. "/tree/sub") .. " " .. H.q(dir .. "/elsewhere"))
      local f = file("tree/sub/held")
      local h = holder("open " .. H.q(f))
      local w = holder("idle", { prefix = "env -C " .. H.q(dir .. "/tree/sub") })
      local other = holder("idle", { prefix = "env -C " .. H.q(dir .. "/elsewhere") })
      local out, err, rc = cli("list --json " .. H.q(dir .. "/tree"))
      assert.equal(0, rc, err)
      local pids = {}
      for _, a in ipairs(assert(json.decode(out)).apps) do pids[a.pid] = true end
      assert.truthy(pids[h.pid], "the holder of a file beneath it")
      assert.truthy(pids[w.pid], "the process working in it")
      assert.falsy(pids[other.pid], "a process working elsewhere")
      out, err, rc = cli("list " .. H.q(dir .. "/tree"))
      assert.equal(0, rc, err)
      assert.matches("\n *" .. h.pid .. " ", out)
      assert.matches("\n *" .. w.pid .. " ", out)
    end)
  end)

  describe("plan", function()
    it("prints the dry run and stops nothing", function()
      local f = file("held")
      local h = holder("open " .. H.q(f))
      local out, err, rc = cli("plan --force --timeout 3 " .. H.q(f))
      assert.equal(0, rc, err)
      assert.matches("^plan %(dry run%): 1 application uses the resources\n",
        out)
      assert.matches("\n  " .. h.pid .. " +holder +%a+ +stop +no ", out)
      assert.matches("would stop 1, spare 0, restart 0; kill what has not "
        .. "stopped after 3 s", out, 1, true)
      assert.is_true(untouched(h.pid))
    end)

    it("writes the plan as JSON, with the policy's reasons", function()
      local f = file("held")
      local h = holder("open " .. H.q(f))
      local out, err, rc = cli("plan --json --spare holder " .. H.q(f))
      assert.equal(0, rc, err)
      local plan = assert(json.decode(out))
      assert.is_true(plan.dry_run)
      assert.equal(h.pid, plan.apps[1].pid)
      assert.equal("spare", plan.apps[1].action)
      assert.equal('never-touch rule: name "holder"', plan.apps[1].why)
      assert.same({ "holder" }, plan.policy.never.names)
      assert.equal(1, plan.spare)
    end)

    it("exits 3 when the update would be refused", function()
      local f = file("held")
      local h = holder("open " .. H.q(f))
      local out, _, rc = cli("plan --only-registered " .. H.q(f))
      assert.equal(3, rc)
      assert.matches("\nrefused: ERROR_FAIL_SHUTDOWN %(351%): only_registered",
        out)
      assert.is_true(untouched(h.pid))
    end)
  end)

  describe("close", function()
    it("stops the apps, shows the steps and the report", function()
      local f = file("held")
      local h = holder("open " .. H.q(f))
      local out, err, rc = cli("close " .. H.q(f))
      assert.equal(0, rc, err)
      assert.is_true(gone(h.pid))
      assert.matches("^report: 1 application uses the resources\n", out)
      assert.matches("\n  " .. h.pid .. " +holder +%a+ +stopped ", out)
      -- not a terminal: plain lines
      assert.matches("stopping pid " .. h.pid .. " %(holder%)\n", err)
      assert.matches("\nstopping 0%%\n", err)
      assert.matches("\nstopping 100%%\n", err)
      assert.matches("\nstopped pid " .. h.pid .. " %(holder%)\n", err)
    end)

    it("exits 1 when an app does not stop, and kills it with --force",
      function()
        local f = file("held")
        local h = holder("ignore-term open " .. H.q(f))
        local _, err, rc = cli("close --timeout 0.3 " .. H.q(f))
        assert.equal(1, rc)
        assert.matches("ERROR_FAIL_SHUTDOWN %(351%)", err)
        assert.is_true(untouched(h.pid))
        local log = dir .. "/steps.jsonl"
        local out
        out, err, rc = cli("close --force --timeout 0.3 --log " .. H.q(log)
          .. " " .. H.q(f))
        assert.equal(0, rc, err)
        assert.is_true(gone(h.pid))
        assert.matches(" forced ", out)
        assert.matches("killing pid " .. h.pid, err)
        local steps = {}
        for line in H.read(log):gmatch("([^\n]*)\n") do
          local rec = assert(json.decode(line))
          if rec.pid == h.pid then steps[#steps + 1] = rec.step end
        end
        assert.same({ "listed", "stop_requested", "force_requested", "forced" },
          steps)
      end)

    it("spares what the policy file names", function()
      local f = file("held")
      local h = holder("open " .. H.q(f))
      local pol = file("policy.json", json.encode {
        never = { paths = { H.BUILD .. "/helpers" } }, timeout = 2 })
      local out, err, rc = cli("close --policy " .. H.q(pol) .. " " .. H.q(f))
      assert.equal(0, rc, err)
      assert.matches(" spared ", out)
      assert.matches("spared pid " .. h.pid .. " %(holder%): never%-touch rule",
        err)
      assert.is_true(untouched(h.pid))
      local bad = file("bad.json", '{"never": {"paths": ["relative"]}}')
      out, err, rc = cli("close --policy " .. H.q(bad) .. " " .. H.q(f))
      assert.equal(2, rc)
      assert.equal("", out)
      assert.matches("absolute path expected", err)
      out, err, rc = cli("close --policy " .. H.q(dir .. "/none.json") .. " "
        .. H.q(f))
      assert.equal(2, rc)
      assert.equal("", out)
      assert.matches("cannot read the policy", err)
      assert.is_true(untouched(h.pid))
    end)

    it("draws a progress bar on a terminal", function()
      local f = file("held")
      local h = holder("open " .. H.q(f))
      -- script(1) runs the tool on a pseudo-terminal
      local typescript = dir .. "/typescript"
      local _, rc = H.sh("script -qec " .. H.q("env " .. H.lua_env() .. " "
        .. H.LUA .. " " .. H.q(BIN) .. " close " .. H.q(f)) .. " "
        .. H.q(typescript) .. " >/dev/null 2>&1")
      assert.equal(0, rc)
      assert.is_true(gone(h.pid))
      local tty = H.read(typescript)
      assert.matches("\r\27%[K%[#+%] 100%% stopping", tty)
      assert.matches("\r\27%[K%[%.+%]   0%% stopping", tty)
      assert.is_nil(tty:find("\nstopping 0%", 1, true))
    end)
  end)

  describe("run", function()
    it("closes the users, runs the command, restarts them, exits with its status",
      function()
        local data = file("data", "old")
        local a = app(data)
        local first = a.first
        local h = holder("open " .. H.q(data))
        local out, err, rc = cli("run --file " .. H.q(data) .. " --timeout 5 -- "
          .. "sh -c " .. H.q('echo "command: $1"; printf new > "$2"; exit 3')
          .. " sh 'two words' " .. H.q(data))
        assert.equal(3, rc, err)
        assert.equal("command: two words\n", out)
        local second = a.wait_starts(2)[2]
        assert.not_equal(first.pid, second.pid)
        assert.equal("new", second.data)
        assert.is_true(gone(h.pid))
        assert.matches("restarted pid " .. first.pid, err)
        assert.matches("not restarted pid " .. h.pid, err)
        -- the report goes to standard error, the command owns stdout
        assert.matches("\nreport: 2 applications use the resources\n", err)
      end)

    it("exits 127 for a command that does not exist, and still restarts",
      function()
        local data = file("data")
        local a = app(data)
        local _, err, rc = cli("run --file " .. H.q(data) .. " -- "
          .. H.q(dir .. "/no-such-command"))
        assert.equal(127, rc)
        assert.matches("ERROR_FILE_NOT_FOUND", err)
        assert.equal(2, #a.wait_starts(2))
      end)

    it("exits 125 without running the command when the procedure is refused",
      function()
        local data = file("data")
        local h = holder("open " .. H.q(data))
        local marker = dir .. "/ran"
        local _, err, rc = cli("run --only-registered --file " .. H.q(data)
          .. " -- touch " .. H.q(marker))
        assert.equal(125, rc)
        assert.matches("refused: ERROR_FAIL_SHUTDOWN", err)
        assert.is_nil(H.read(marker))
        assert.is_true(untouched(h.pid))
      end)

    it("reports 128 + N for a command ended by signal N", function()
      local data = file("data")
      local _, err, rc = cli("run --file " .. H.q(data) .. " -- sh -c "
        .. H.q("kill -TERM $$"))
      assert.equal(128 + 15, rc, err)
    end)
  end)
end)
