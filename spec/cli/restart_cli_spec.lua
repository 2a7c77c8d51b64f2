-- The command-line tool and programs that never registered: `launch`
-- registers any program, `run` tells by its exit status whether
-- everything came back, `--restart-unregistered` brings programs back from
-- their capture, and programs someone works in on a terminal are not
-- stopped without asking (driven through a pseudo-terminal).
local H = require "spec.helpers"

local pids_of = H.pids_of

local cmdline = H.cmdline

-- Waits until exactly n processes run path; returns their pids.
local function wait_running(path, n)
  return H.wait_for(function()
    local now = pids_of(path)
    return #now == n and now
  end, function()
    return ("%d processes to run %s (%d do)"):format(n, path, #pids_of(path))
  end)
end

describe("bin/restartmanager and programs that never registered #native",
  function()
    local BIN = H.ROOT .. "/bin/restartmanager"
    local fx, prog

    before_each(function()
      fx = H.scratch()
      prog = fx.dir .. "/copied-sleep"
      H.sh("cp /bin/sleep " .. H.q(prog))
    end)

    after_each(function()
      for _, pid in ipairs(pids_of(prog)) do H.kill_now(pid) end
      fx.cleanup()
    end)

    local function tool(args)
      return "env " .. H.lua_env() .. " " .. H.LUA .. " " .. H.q(BIN) .. " "
        .. args
    end

    -- runs the tool without a terminal: stdout, stderr, exit status
    local function cli(args)
      local err = fx.dir .. "/stderr"
      local out, rc = H.sh(tool(args) .. " 2>" .. H.q(err) .. " </dev/null")
      return out, H.read(err) or "", rc
    end

    -- the program in a session of its own (no terminal)
    local function start_prog(seconds)
      fx.track(H.start(("setsid %s %s 0.5"):format(H.q(prog), seconds)))
      return wait_running(prog, 1)[1]
    end

    it("launch registers any program; run brings it back with its arguments",
      function()
        local launched = fx.track(H.start("setsid " .. tool("launch --env "
          .. "RM_OWN_VAR=launched -- " .. H.q(prog) .. " 501 0.5")))
        local pid = wait_running(prog, 1)[1]
        -- the launcher became the program: same pid, registered
        assert.equal(launched.pid, pid)
        local out, _, rc = cli("list " .. H.q(prog))
        assert.equal(0, rc)
        assert.matches(pid .. "%s+%S+%s+yes", out)
        local _, err
        _, err, rc = cli("run --file " .. H.q(prog) .. " -- true")
        assert.equal(0, rc, err)
        assert.is_true(H.gone(pid))
        local back = wait_running(prog, 1)[1]
        assert.not_equal(pid, back)
        assert.same({ prog, "501", "0.5" }, cmdline(back))
        assert.matches("RM_OWN_VAR=launched",
          H.read("/proc/" .. back .. "/environ"))
      end)

    it("launch says why when the command cannot run", function()
      local _, err, rc = cli("launch -- " .. H.q(fx.dir .. "/missing"))
      assert.equal(127, rc)
      assert.matches("cannot run", err)
      _, err, rc = cli("launch -- no-such-program-anywhere")
      assert.equal(127, rc)
      assert.matches("not found in PATH", err)
      H.sh("chmod -x " .. H.q(prog))
      _, err, rc = cli("launch -- " .. H.q(prog))
      assert.equal(126, rc, err)
      _, err, rc = cli("launch --env NOEQUALS -- true")
      assert.equal(2, rc)
      assert.matches("NAME=VALUE", err)
    end)

    it("run exits 5 when the command succeeded but a program stays down",
      function()
        local pid = start_prog(502)
        local _, err, rc = cli("run --file " .. H.q(prog) .. " -- true")
        assert.equal(5, rc, err)
        assert.matches("stays down: pid " .. pid, err)
        assert.matches("did not come back", err)
        assert.same({}, pids_of(prog))
        -- the user says staying down is fine
        start_prog(502)
        _, err, rc = cli("run --allow-down --file " .. H.q(prog) .. " -- true")
        assert.equal(0, rc, err)
        -- the command's own failure still wins
        start_prog(502)
        _, err, rc = cli("run --file " .. H.q(prog) .. " -- false")
        assert.equal(1, rc, err)
      end)

    it("run --restart-unregistered brings it back, and exits 0", function()
      local pid = start_prog(503)
      local _, err, rc = cli("run --restart-unregistered --file " .. H.q(prog)
        .. " -- true")
      assert.equal(0, rc, err)
      assert.matches("restarted pid " .. pid .. " %(copied%-sleep%) from its "
        .. "capture %(its command line%)", err)
      local back = wait_running(prog, 1)[1]
      assert.not_equal(pid, back)
      assert.same({ prog, "503", "0.5" }, cmdline(back))
      -- by rule: a name that does not match keeps it down
      _, err, rc = cli("run --restart-unregistered-name other --file "
        .. H.q(prog) .. " -- true")
      assert.equal(5, rc, err)
      start_prog(503)
      _, err, rc = cli("run --restart-unregistered-path " .. H.q(fx.dir)
        .. " --file " .. H.q(prog) .. " -- true")
      assert.equal(0, rc, err)
      wait_running(prog, 1)
    end)

    describe("a program with a terminal", function()
      -- the program on a pseudo-terminal of its own, as someone's editor
      local function on_terminal(seconds)
        fx.track(H.start("script -qfec " .. H.q(H.q(prog) .. " " .. seconds
          .. " 0.5") .. " /dev/null"))
        return wait_running(prog, 1)[1]
      end

      -- the tool on a pseudo-terminal, answering the question with answer
      local function on_pty(args, answer)
        local out = fx.dir .. "/pty-out"
        local _, rc = H.sh("printf " .. H.q(answer .. "\n") .. " | script -qfec "
          .. H.q(tool(args)) .. " " .. H.q(out) .. " >/dev/null 2>&1")
        return H.read(out) or "", rc
      end

      it("is not stopped without asking", function()
        local pid = on_terminal(504)
        local out, err, rc = cli("plan " .. H.q(prog))
        assert.equal(0, rc, err)
        assert.matches("has a terminal: unsaved work may be lost", out)
        -- no terminal to ask on: left running
        out, err, rc = cli("close " .. H.q(prog))
        assert.equal(0, rc, err)
        assert.matches("not stopped without asking", out .. err)
        assert.is_true(H.alive(pid))
        -- on a terminal: asked, and the answer is no
        local text = on_pty("close " .. H.q(prog), "n")
        assert.matches("Stop them%? %[y/N%]", text)
        assert.matches("pid " .. pid, text)
        assert.is_true(H.alive(pid))
        -- the answer is yes
        text = on_pty("close " .. H.q(prog), "y")
        assert.matches("Stop them%? %[y/N%]", text)
        assert.is_true(H.gone(pid), text)
      end)

      it("is stopped with --yes, and run says it stays down", function()
        local pid = on_terminal(505)
        local _, err, rc = cli("run --yes --restart-unregistered --file "
          .. H.q(prog) .. " -- true")
        assert.equal(5, rc, err)
        assert.is_true(H.gone(pid))
        assert.matches("controlling terminal", err)
        assert.same({}, pids_of(prog))
      end)
    end)
  end)
