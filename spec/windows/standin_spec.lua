-- The Windows backend's conversions, checked under Wine against the TEST
-- STAND-IN rstrtmgr.dll (spec/helpers/standin_rstrtmgr.c; neither
-- Microsoft's nor Wine's). The stand-in answers from a scenario the spec
-- writes and logs what it received, with UTF-16 strings as hexadecimal code
-- units, so both directions of every conversion are checked on the real
-- Windows ABI (x86_64).
local H = require "spec.helpers"
local W = require "spec.helpers.wine"

local u16 = W.u16
local KEY = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"

-- The contract's names of the error codes the specs provoke.
local ERROR_NAMES = {
  [2] = "ERROR_FILE_NOT_FOUND", [5] = "ERROR_ACCESS_DENIED",
  [6] = "ERROR_INVALID_HANDLE", [234] = "ERROR_MORE_DATA",
  [350] = "ERROR_FAIL_NOACTION_REBOOT", [351] = "ERROR_FAIL_SHUTDOWN",
  [352] = "ERROR_FAIL_RESTART", [353] = "ERROR_MAX_SESSIONS_REACHED",
  [776] = "ERROR_REQUEST_OUT_OF_SEQUENCE",
  [1219] = "ERROR_SESSION_CREDENTIAL_CONFLICT", [1223] = "ERROR_CANCELLED",
}

-- The contract's RM_APP_TYPE names.
local TYPE_NAMES = {
  [0] = "unknown", [1] = "main_window", [2] = "other_window", [3] = "service",
  [4] = "explorer", [5] = "console", [1000] = "critical",
}

-- Runs code against the stand-in with its first scenario; vars: values the
-- script gets as locals of the same names.
local function run(code, scenario, vars)
  local head = {}
  for name, value in pairs(vars or {}) do
    head[#head + 1] = ("local %s = %q\n"):format(name, value)
  end
  local res = W.run(table.concat(head) .. code,
    { standin = true, scenario = scenario })
  assert.equal(0, res.rc, res.out)
  return res
end

-- FormatMessageW's text for each code as the system gives it (through
-- wintool.exe), trimmed as the contract's messages are: without the final
-- period and line break; "system error N" when there is none.
local function system_texts(codes)
  local words = {}
  for _, c in ipairs(codes) do words[#words + 1] = tostring(c) end
  local out, rc = W.wintool("message " .. table.concat(words, " "))
  assert.equal(0, rc, out)
  local texts = {}
  for code, hex in out:gmatch("(%d+) (%S+)") do
    local text = hex == "-" and "" or hex:gsub("%x%x", function(h)
      return string.char(tonumber(h, 16))
    end)
    text = text:gsub("[%s%.]+$", "")
    texts[tonumber(code)] = text ~= "" and text or ("system error " .. code)
  end
  return texts
end

local function expected_message(code, texts)
  local name = ERROR_NAMES[code]
  if name then return ("%s (%d): %s"):format(name, code, texts[code]) end
  return ("error %d: %s"):format(code, texts[code])
end

describe("windows backend against the stand-in rstrtmgr.dll #wine", function()
  it("loads the stand-in, not Wine's rstrtmgr, and reports Wine", function()
    local res = run([[
      local core = require "restartmanager.core"
      local info = core.backend_info()
      R.backend, R.wine = info.backend, info.wine
      local s, key = core.start_session()
      R.key = key
      R.session = tostring(s)
      R.ended = s:end_session()
    ]], "key " .. KEY .. "\n")
    -- Wine's own RmStartSession writes no key (see windows/wine_stubs_spec): a key
    -- from the scenario, all 32 characters of it although the stand-in
    -- writes no NUL after them, comes from the stand-in
    assert.equal(KEY, res.R.key)
    assert.equal("windows", res.R.backend)
    assert.is_string(res.R.wine)
    local version = H.sh("wine --version 2>/dev/null")
    assert.truthy(version:find(res.R.wine, 1, true), version)
    assert.equal(true, res.R.ended)
    -- the backend zero-filled the 33-unit key buffer before the call
    assert.same({ "call RmStartSession flags=0 key_zeroed=1", "started 0",
      "return RmStartSession 0", "call RmEndSession h=0",
      "return RmEndSession 0" }, W.lines(res.log))
  end)

  it("uses handle 0 and the largest handle like any other", function()
    local res = run([[
      local core = require "restartmanager.core"
      local a = assert(core.start_session())   -- handle 0
      local b = assert(core.start_session())   -- handle 1
      R.reg_a = a:register_resources({ "C:\\a" })
      R.reg_b = b:register_resources(nil, nil, { "b" })
      R.list_a = type((a:get_list(0)))
      R.end_a = a:end_session()
      R.end_b = b:end_session()
      scenario("handle 4294967295\n")
      local c = assert(core.start_session())
      R.reg_c = c:register_resources({ "C:\\c" })
      R.end_c = c:end_session()
    ]], "handle 0\n")
    assert.equal(true, res.R.reg_a)
    assert.equal(true, res.R.reg_b)
    assert.equal("table", res.R.list_a)
    assert.equal(true, res.R.end_a)
    assert.equal(true, res.R.end_b)
    assert.equal(true, res.R.reg_c)
    assert.equal(true, res.R.end_c)
    -- the stand-in answers 6 for any handle it did not hand out: every call
    -- carried the right one
    local calls = W.lines(res.log, "call Rm")
    assert.same({
      "call RmStartSession flags=0 key_zeroed=1",
      "call RmStartSession flags=0 key_zeroed=1",
      "call RmRegisterResources h=0 nfiles=1 files=ptr napps=0 apps=NULL "
        .. "nsvcs=0 svcs=NULL",
      "call RmRegisterResources h=1 nfiles=0 files=NULL napps=0 apps=NULL "
        .. "nsvcs=1 svcs=ptr",
      "call RmGetList h=0 capacity=0 array=NULL",
      "call RmEndSession h=0",
      "call RmEndSession h=1",
      "call RmStartSession flags=0 key_zeroed=1",
      "call RmRegisterResources h=4294967295 nfiles=1 files=ptr napps=0 "
        .. "apps=NULL nsvcs=0 svcs=NULL",
      "call RmEndSession h=4294967295",
    }, calls)
    assert.same({}, W.lines(res.log, "return RmEndSession 6"))
  end)

  it("joins with the key as UTF-16 and uses the joined handle", function()
    local res = run([[
      local core = require "restartmanager.core"
      local s = assert(core.join_session("]] .. KEY .. [["))
      R.primary = s:is_primary()
      R.reg = s:register_resources({ "C:\\j" })
      R.ended = s:end_session()
      R.bad = { core.join_session("ffffffffffffffffffffffffffffffff") }
      -- the SDK declares the key CCH_RM_SESSION_KEY + 1 characters long:
      -- another length never reaches RmJoinSession
      R.short = { core.join_session("abc") }
      R.long = { core.join_session("]] .. KEY .. [[0") }
      R.empty = { core.join_session("") }
    ]], "key " .. KEY .. "\njoin_handle 7\n")
    assert.equal(false, res.R.primary)
    assert.equal(true, res.R.reg)
    assert.equal(true, res.R.ended)
    local calls = W.lines(res.log, "call Rm")
    assert.equal("call RmJoinSession key=" .. u16(KEY), calls[1])
    assert.matches("^call RmRegisterResources h=7 ", calls[2])
    assert.equal("call RmEndSession h=7", calls[3])
    assert.is_nil(res.R.bad[1])
    assert.equal(1219, res.R.bad[3])
    assert.matches("^ERROR_SESSION_CREDENTIAL_CONFLICT %(1219%): ",
      res.R.bad[2])
    for _, k in ipairs { "short", "long", "empty" } do
      assert.is_nil(res.R[k][1], k)
      assert.equal(1219, res.R[k][3], k)
    end
    assert.equal(2, #W.lines(res.log, "call RmJoinSession"))
  end)

  it("registers Unicode paths, services and processes exactly", function()
    local files = {
      "C:\\Program Files\\Ünïcødé\\日本語\\lib.dll",
      "C:\\emoji\\😀 𝄞.txt",
      "\\\\server\\share\\plain.txt",
    }
    local services = { "wuauserv", "Dienst-ß-Überwachung" }
    local procs = {
      { pid = 0, start_time = 0 },
      { pid = 4294967295, start_time = 4294967295 },       -- 2^32 - 1
      { pid = 1, start_time = 4294967296 },                -- 2^32
      { pid = 2, start_time = 0x01DA2B3C4D5E6F70 },        -- 2024
      { pid = 3, start_time = 0x7FFFFFFFFFFFFFFF },        -- 2^63 - 1
      { pid = 4, start_time = 0x123456789ABCDEF0 },
    }
    local function lua_list(t)
      local parts = {}
      for _, v in ipairs(t) do
        if type(v) == "table" then
          parts[#parts + 1] = ("{pid=%d,start_time=%d}"):format(v.pid,
            v.start_time)
        else
          parts[#parts + 1] = ("%q"):format(v)
        end
      end
      return "{" .. table.concat(parts, ",") .. "}"
    end
    local res = run([[
      local core = require "restartmanager.core"
      local s = assert(core.start_session())
      R.all = s:register_resources(]] .. lua_list(files) .. ", "
        .. lua_list(procs) .. ", " .. lua_list(services) .. [[)
      R.only_procs = s:register_resources(nil, ]] .. lua_list(procs) .. [[)
      R.none = s:register_resources()
      s:end_session()
    ]], "")
    assert.equal(true, res.R.all)
    assert.equal(true, res.R.only_procs)
    assert.equal(true, res.R.none)
    local regs = W.lines(res.log, "call RmRegisterResources")
    assert.same({
      "call RmRegisterResources h=0 nfiles=3 files=ptr napps=6 apps=ptr "
        .. "nsvcs=2 svcs=ptr",
      "call RmRegisterResources h=0 nfiles=0 files=NULL napps=6 apps=ptr "
        .. "nsvcs=0 svcs=NULL",
      "call RmRegisterResources h=0 nfiles=0 files=NULL napps=0 apps=NULL "
        .. "nsvcs=0 svcs=NULL",
    }, regs)
    local want = {}
    for i, f in ipairs(files) do
      want[#want + 1] = ("file %d %s"):format(i - 1, u16(f))
    end
    for i, p in ipairs(procs) do
      -- FILETIME: low = bits 0-31, high = bits 32-63
      want[#want + 1] = ("proc %d %d %d %d"):format(i - 1, p.pid,
        p.start_time & 0xFFFFFFFF, p.start_time >> 32)
    end
    for i, s in ipairs(services) do
      want[#want + 1] = ("svc %d %s"):format(i - 1, u16(s))
    end
    for i, p in ipairs(procs) do
      want[#want + 1] = ("proc %d %d %d %d"):format(i - 1, p.pid,
        p.start_time & 0xFFFFFFFF, p.start_time >> 32)
    end
    local got = {}
    for line in res.log:gmatch("[^\n]+") do
      if line:match("^file ") or line:match("^proc ") or line:match("^svc ")
      then got[#got + 1] = line end
    end
    assert.same(want, got)
  end)

  describe("get_list", function()
    local big = ("語"):rep(255)       -- the longest name, 3 bytes a unit
    local APPS = {
      { pid = 0, start = 0, type = 0, status = 0, ts = -1, restartable = 0,
        name = "", svc = "" },
      { pid = 1, start = 1, type = 1, status = 0x01, ts = 0, restartable = 1,
        name = "Editor", svc = "" },
      { pid = 4294967295, start = 4294967295, type = 2, status = 0x02,
        ts = 1, restartable = 2, name = "Ünïcødé ✓", svc = "" },
      { pid = 1234, start = 4294967296, type = 3, status = 0x04, ts = -1,
        restartable = 1, name = "Windows Update Überwachung",
        svc = "wuauserv" },
      { pid = 4, start = 0x01DA2B3C4D5E6F70, type = 4, status = 0x08,
        ts = 2147483647, restartable = 1, name = "Explorer 日本語", svc = "" },
      { pid = 5, start = 0x7FFFFFFFFFFFFFFF, type = 5, status = 0x10, ts = 5,
        restartable = 0, name = "console 😀 𝄞", svc = "" },
      { pid = 6, start = 6, type = 1000, status = 0x20, ts = -1,
        restartable = 0, name = "csrss.exe", svc = "" },
      { pid = 7, start = 7, type = 42, status = 0x40, ts = 2,
        restartable = 1, name = "unknown type", svc = "" },
      { pid = 8, start = 8, type = 3, status = 0x80, ts = -1,
        restartable = 1, name = big, svc = ("ß"):rep(63) },
      { pid = 9, start = 9, type = 1, status = 0xFF, ts = 3,
        restartable = 1, name = "all status bits", svc = ("語"):rep(63) },
    }

    local function scenario_of(apps, extra)
      local lines = { "reasons 31" }
      for _, a in ipairs(apps) do
        lines[#lines + 1] = ("app %d %d %d %d %d %d %s %s"):format(a.pid,
          a.start, a.type, a.status, a.ts, a.restartable, a.hex or u16(a.name),
          u16(a.svc))
      end
      return table.concat(lines, "\n") .. "\n" .. (extra or "")
    end

    local function expected(a)
      return {
        pid = a.pid, start_time = a.start, name = a.want_name or a.name,
        service = a.svc ~= "" and a.svc or nil,
        type = TYPE_NAMES[a.type] or a.type, status = a.status,
        session_id = a.ts, restartable = a.restartable ~= 0,
      }
    end

    it("converts every field of every app", function()
      local res = run([[
        local core = require "restartmanager.core"
        local s = assert(core.start_session())
        R.apps, R.reasons = s:get_list(]] .. #APPS + 5 .. [[)
        s:end_session()
      ]], scenario_of(APPS))
      assert.is_table(res.R.apps, res.out)
      assert.equal(#APPS, #res.R.apps)
      for i, a in ipairs(APPS) do
        assert.same(expected(a), res.R.apps[i])
      end
      assert.equal(31, res.R.reasons)
      assert.same({ "call RmGetList h=0 capacity=" .. #APPS + 5
        .. " array=ptr" }, W.lines(res.log, "call RmGetList"))
    end)

    it("bounds names by their arrays and keeps whole characters", function()
      -- names that fill their array with no NUL: 256 ASCII units arrive
      -- whole (the service beside them stays out); 256 three-byte units do
      -- not fit the 768 bytes of rm_app.name with a NUL and lose the last
      -- character, not a part of it; a lone surrogate becomes U+FFFD
      local apps = {
        { pid = 1, start = 1, type = 1, status = 1, ts = 1, restartable = 1,
          name = ("A"):rep(256), svc = "zz" },
        { pid = 2, start = 2, type = 1, status = 1, ts = 1, restartable = 1,
          name = ("語"):rep(256), want_name = ("語"):rep(255), svc = "yy" },
        { pid = 3, start = 3, type = 1, status = 1, ts = 1, restartable = 1,
          name = "x", hex = "0078d800", want_name = "x\u{FFFD}", svc = "" },
      }
      local res = run([[
        local core = require "restartmanager.core"
        local s = assert(core.start_session())
        R.apps = s:get_list(3)
        s:end_session()
      ]], scenario_of(apps))
      assert.is_table(res.R.apps, res.out)
      for i, a in ipairs(apps) do
        assert.same(expected(a), res.R.apps[i])
      end
    end)

    it("passes each reboot reason bit", function()
      local res = run([[
        local core = require "restartmanager.core"
        R.bits = {}
        for _, bit in ipairs { 0, 1, 2, 4, 8, 16, 31 } do
          scenario("reasons " .. bit .. "\n")
          local s = assert(core.start_session())
          local apps, reasons = s:get_list()
          R.bits[#R.bits + 1] = { #apps, reasons }
          s:end_session()
        end
      ]], "")
      assert.same({ { 0, 0 }, { 0, 1 }, { 0, 2 }, { 0, 4 }, { 0, 8 },
        { 0, 16 }, { 0, 31 } }, res.R.bits)
    end)

    it("returns nil, message, 234, needed when the capacity is short",
      function()
        local res = run([[
          local core = require "restartmanager.core"
          local s = assert(core.start_session())
          R.zero = { s:get_list() }
          R.short = { s:get_list(]] .. #APPS - 1 .. [[) }
          local apps = s:get_list(]] .. #APPS .. [[)
          R.exact = #apps
          s:end_session()
        ]], scenario_of(APPS))
        local texts = system_texts({ 234 })
        for _, r in ipairs { res.R.zero, res.R.short } do
          assert.same({ nil, expected_message(234, texts), 234, #APPS }, r)
        end
        assert.equal(#APPS, res.R.exact)
        assert.same({
          "call RmGetList h=0 capacity=0 array=NULL",
          "call RmGetList h=0 capacity=" .. #APPS - 1 .. " array=ptr",
          "call RmGetList h=0 capacity=" .. #APPS .. " array=ptr",
        }, W.lines(res.log, "call RmGetList"))
      end)

    it("survives a list that grows between calls (the 234 race)", function()
      local two = { APPS[2], APPS[4] }
      local res = run([[
        local core = require "restartmanager.core"
        local rm = require "restartmanager"
        -- the core: one RmGetList per call, the loop written out
        local s = assert(core.start_session())
        local capacity, needs = 0, {}
        for _ = 1, 10 do
          local apps, msg, code, needed = s:get_list(capacity)
          if apps then R.core_apps = apps break end
          assert(code == 234, msg)
          needs[#needs + 1] = needed
          capacity = needed
        end
        R.needs = needs
        s:end_session()
        -- the Lua layer's loop
        mark("layer")
        -- the same race again: a changed scenario starts afresh
        scenario(SCENARIO .. "race 3\n# again\n")
        local session = assert(rm.start())
        R.layer_apps = session:list()
        session:close()
        -- a list that grows more often than the loop's bound
        scenario(SCENARIO .. "race 1000\n")
        mark("endless")
        local endless = assert(rm.start())
        R.endless = { endless:list() }
        R.tries = rm.LIST_TRIES
        endless:close()
      ]], scenario_of(two, "race 3\n"), { SCENARIO = scenario_of(two) })
      assert.same({ 3, 4, 5 }, res.R.needs)
      assert.same({ expected(two[1]), expected(two[2]) }, res.R.core_apps)
      assert.same({ expected(two[1]), expected(two[2]) }, res.R.layer_apps)
      assert.same({ "return RmGetList 234 needed=3",
        "return RmGetList 234 needed=4", "return RmGetList 234 needed=5",
        "return RmGetList 0 count=2" },
        W.lines(W.section(res.log, "layer"), "return RmGetList"))
      assert.is_nil(res.R.endless[1])
      assert.equal(234, res.R.endless[3])
      assert.equal(res.R.tries,
        #W.lines(W.section(res.log, "endless"), "call RmGetList"))
    end)
  end)

  describe("shutdown and restart", function()
    local SCENARIO = "progress 0 10 50 90 100\n"

    -- A process that has exited keeps its pid and its times for as long as
    -- someone (its parent, a launcher) holds it open: OpenProcess and
    -- GetProcessTimes still succeed. Only its handle, signalled, says it is
    -- gone.
    it("takes a listed app that exited, though still held open, for stopped",
      function()
        local res = run([[
          local core = require "restartmanager.core"
          local rm = require "restartmanager"
          -- core.spawn keeps the child's handle until it is waited for
          local pid = assert(core.spawn({ "cmd.exe", "/c", "exit 0" }))
          local p = assert(core.process(pid))
          -- (until it has exited: at most 60 s, whatever the machine's load)
          local deadline = os.time() + 60
          while core.running(p) and os.time() < deadline do end
          R.running = core.running(p)
          R.still_there = core.process(pid) ~= nil
          scenario(("app %d %d 5 1 1 1 %s -\n"):format(pid, p.start_time,
            u16("cmd.exe")))
          R.ok = { rm.update({ files = { "C:\\held" } }, function() end,
            { allow_missing = true }) }
          local plan = R.ok[2]
          R.ok[2] = nil
          R.outcome = plan and plan.apps[1].outcome
          R.restart_outcome = plan and plan.apps[1].restart_outcome
          core.wait(pid)
        ]], "")
        assert.is_false(res.R.running)
        assert.is_true(res.R.still_there)
        assert.is_true(res.R.ok[1], res.out)
        assert.equal("stopped", res.R.outcome)
        assert.equal("restarted", res.R.restart_outcome)
      end)

    it("pass the flags and deliver every percentage", function()
      local res = run([[
        local core = require "restartmanager.core"
        local s = assert(core.start_session())
        R.down, R.up = {}, {}
        R.shutdown = s:shutdown(core.shutdown.force
          | core.shutdown.only_registered, function(p)
            R.down[#R.down + 1] = p
          end)
        R.restart = s:restart(function(p) R.up[#R.up + 1] = p end)
        R.quiet = s:shutdown()
        s:end_session()
      ]], SCENARIO)
      assert.equal(true, res.R.shutdown)
      assert.equal(true, res.R.restart)
      assert.equal(true, res.R.quiet)
      assert.same({ 0, 10, 50, 90, 100 }, res.R.down)
      assert.same({ 0, 10, 50, 90, 100 }, res.R.up)
      local calls = W.lines(res.log, "call Rm")
      assert.equal("call RmShutdown h=0 flags=17 callback=ptr", calls[2])
      assert.equal("call RmRestart h=0 flags=0 callback=ptr", calls[3])
      assert.equal("call RmShutdown h=0 flags=0 callback=ptr", calls[4])
    end)

    it("raise a progress error after the call returned cleanly", function()
      local res = run([[
        local core = require "restartmanager.core"
        local s = assert(core.start_session())
        local seen, obj = {}, { "an error object" }
        R.ok, R.err = pcall(s.shutdown, s, 0, function(p)
          seen[#seen + 1] = p
          if p == 50 then error("failed at " .. p, 0) end
        end)
        R.seen = seen
        mark("table")
        local ok, e = pcall(s.restart, s, function(p)
          if p == 10 then error(obj) end
        end)
        R.same_object = not ok and e == obj
        mark("after")
        -- the session goes on working
        R.again = s:shutdown(0, function() end)
        s:end_session()
      ]], SCENARIO)
      assert.equal(false, res.R.ok)
      assert.equal("failed at 50", res.R.err)
      -- no call into Lua after the error
      assert.same({ 0, 10, 50 }, res.R.seen)
      assert.equal(true, res.R.same_object)
      assert.equal(true, res.R.again)
      -- the stand-in went on reporting, every report came back to it, and
      -- RmShutdown itself returned normally
      local first = res.log:match("(call RmShutdown.-)mark table")
      assert.same({
        "call RmShutdown h=0 flags=0 callback=ptr",
        "progress 0", "progress_returned 0", "progress 10",
        "progress_returned 10", "progress 50", "progress_returned 50",
        "progress 90", "progress_returned 90", "progress 100",
        "progress_returned 100", "return RmShutdown 0",
      }, W.lines(first))
      assert.same({ "return RmRestart 0" },
        W.lines(W.section(res.log, "table"), "return"))
    end)

    it("cancel reaches the stand-in, also from a progress callback",
      function()
        local res = run([[
          local core = require "restartmanager.core"
          local s = assert(core.start_session())
          R.plain = s:cancel()
          mark("during")
          R.seen = {}
          R.result = { s:shutdown(0, function(p)
            R.seen[#R.seen + 1] = p
            if p == 50 then R.cancel = s:cancel() end
          end) }
          s:end_session()
        ]], SCENARIO)
        assert.equal(true, res.R.plain)
        assert.equal(true, res.R.cancel)
        assert.same({ "call RmCancelCurrentTask h=0",
          "return RmCancelCurrentTask 0" },
          W.lines(res.log:match("^(.-)mark during"), "%a+ RmCancel"))
        local texts = system_texts({ 1223 })
        assert.same({ nil, expected_message(1223, texts), 1223 },
          res.R.result)
        assert.same({ 0, 10, 50 }, res.R.seen)
        assert.same({
          "call RmShutdown h=0 flags=0 callback=ptr",
          "progress 0", "progress_returned 0", "progress 10",
          "progress_returned 10", "progress 50",
          "call RmCancelCurrentTask h=0", "return RmCancelCurrentTask 0",
          "progress_returned 50", "return RmShutdown 1223",
        }, W.lines(W.section(res.log, "during"):match("^(.-)call RmEnd")))
      end)

    it("cancel by key reaches the stand-in with the primary's handle",
      function()
        local res = run([[
          local core = require "restartmanager.core"
          local other = assert(core.start_session())     -- handle 5
          local s, key = assert(core.start_session())    -- handle 6
          mark("by key")
          R.result = { s:shutdown(0, function(p)
            if p == 50 then R.cancel = core.cancel(key) end
          end) }
          mark("unknown")
          R.unknown = { core.cancel(("f"):rep(32)) }
          other:end_session()
          s:end_session()
          mark("ended")
          R.ended = { core.cancel(key) }
        ]], "handle 5\nkey " .. KEY .. "\n" .. SCENARIO)
        assert.equal(true, res.R.cancel)
        local texts = system_texts({ 6, 1223 })
        assert.same({ nil, expected_message(1223, texts), 1223 },
          res.R.result)
        assert.same({ "call RmShutdown h=6 flags=0 callback=ptr",
          "call RmCancelCurrentTask h=6",
          "return RmCancelCurrentTask 0", "return RmShutdown 1223" },
          W.lines(W.section(res.log, "by key"), "%a+ Rm[CS]"))
        -- no session of this process has the key (any more): no call
        for _, k in ipairs { "unknown", "ended" } do
          assert.same({ nil, expected_message(6, texts), 6 }, res.R[k], k)
        end
        assert.same({}, W.lines(W.section(res.log, "unknown"), "call RmCancel"))
        assert.same({}, W.lines(W.section(res.log, "ended"), "call RmCancel"))
      end)
  end)

  describe("filters", function()
    local FILTERS = {
      { kind = "file", action = "no_restart",
        target = "C:\\Programme\\Ünïcødé\\😀.exe" },
      { kind = "process", action = "no_shutdown",
        target = { pid = 4294967295, start_time = 0x01DA2B3C4D5E6F70 } },
      { kind = "service", action = "no_shutdown", target = "Dienst-ß" },
      { kind = "process", action = "no_restart",
        target = { pid = 0, start_time = 0x7FFFFFFFFFFFFFFF } },
      { kind = "file", action = "no_shutdown", target = "" },
      { kind = "file", action = "no_shutdown", target = "D:\\last.dll" },
    }

    local function scenario_of(filters, extra)
      local lines = {}
      for _, f in ipairs(filters) do
        if f.kind == "process" then
          lines[#lines + 1] = ("filter process %s %d %d"):format(f.action,
            f.target.pid, f.target.start_time)
        else
          lines[#lines + 1] = ("filter %s %s %s"):format(f.kind, f.action,
            u16(f.target))
        end
      end
      return table.concat(lines, "\n") .. "\n" .. (extra or "")
    end

    it("decode a chain of files, processes and services", function()
      local res = run([[
        local core = require "restartmanager.core"
        R.lists = {}
        for _, layout in ipairs { "packed", "spread", "end_offset" } do
          scenario(SCENARIO .. "filter_layout " .. layout .. "\n")
          local s = assert(core.start_session())
          R.lists[layout] = { s:get_filter_list() }
          s:end_session()
        end
        scenario(SCENARIO .. "filter_race 3\n")
        local s = assert(core.start_session())
        R.race = { s:get_filter_list() }
        s:end_session()
        scenario("")
        s = assert(core.start_session())
        R.empty = { s:get_filter_list() }
        s:end_session()
      ]], "", { SCENARIO = scenario_of(FILTERS) })
      for _, layout in ipairs { "packed", "spread", "end_offset" } do
        assert.same({ FILTERS }, res.R.lists[layout], layout)
      end
      assert.same({ FILTERS }, res.R.race)
      assert.same({ {} }, res.R.empty)
    end)

    it("refuse a chain that leaves the buffer", function()
      local res = run([[
        local core = require "restartmanager.core"
        R.bad = {}
        for _, layout in ipairs { "bad_next", "bad_pointer",
            "unterminated" } do
          scenario(SCENARIO .. "filter_layout " .. layout .. "\n")
          local s = assert(core.start_session())
          R.bad[layout] = { s:get_filter_list() }
          s:end_session()
        end
      ]], "", { SCENARIO = scenario_of(FILTERS) })
      local texts = system_texts({ 13 })
      for _, layout in ipairs { "bad_next", "bad_pointer", "unterminated" } do
        assert.same({ nil, expected_message(13, texts), 13 },
          res.R.bad[layout], layout)
      end
    end)

    it("add and remove pass exactly one target", function()
      local res = run([[
        local core = require "restartmanager.core"
        local s = assert(core.start_session())
        R.add = {
          s:add_filter("file", "C:\\Ünï\\😀.dll", "no_restart"),
          s:add_filter("process", { pid = 4294967295,
            start_time = 0x0123456789ABCDEF }, "no_shutdown"),
          s:add_filter("service", "Dienst-ß", "no_shutdown"),
          s:add_filter("file", "C:\\Ünï\\😀.dll", "no_shutdown"),
        }
        R.list = s:get_filter_list()
        R.remove = {
          s:remove_filter("file", "C:\\Ünï\\😀.dll"),
          s:remove_filter("process", { pid = 4294967295,
            start_time = 0x0123456789ABCDEF }),
        }
        R.missing = { s:remove_filter("service", "absent") }
        R.left = s:get_filter_list()
        s:end_session()
      ]], "")
      assert.same({ true, true, true, true }, res.R.add)
      assert.same({ true, true }, res.R.remove)
      local path = u16("C:\\Ünï\\😀.dll")
      local svc = u16("Dienst-ß")
      local proc = ("%d:%d:%d"):format(4294967295, 0x89ABCDEF, 0x01234567)
      assert.same({
        "call RmAddFilter h=0 file=" .. path .. " proc=NULL svc=NULL action=1",
        "call RmAddFilter h=0 file=NULL proc=" .. proc .. " svc=NULL action=2",
        "call RmAddFilter h=0 file=NULL proc=NULL svc=" .. svc .. " action=2",
        "call RmAddFilter h=0 file=" .. path .. " proc=NULL svc=NULL action=2",
      }, W.lines(res.log, "call RmAddFilter"))
      assert.same({
        "call RmRemoveFilter h=0 file=" .. path .. " proc=NULL svc=NULL",
        "call RmRemoveFilter h=0 file=NULL proc=" .. proc .. " svc=NULL",
        "call RmRemoveFilter h=0 file=NULL proc=NULL svc=" .. u16("absent"),
      }, W.lines(res.log, "call RmRemoveFilter"))
      -- what was added comes back through RmGetFilterList (the latest
      -- action for a target wins)
      assert.same({
        { kind = "file", target = "C:\\Ünï\\😀.dll", action = "no_shutdown" },
        { kind = "process", target = { pid = 4294967295,
          start_time = 0x0123456789ABCDEF }, action = "no_shutdown" },
        { kind = "service", target = "Dienst-ß", action = "no_shutdown" },
      }, res.R.list)
      assert.same({
        { kind = "service", target = "Dienst-ß", action = "no_shutdown" },
      }, res.R.left)
      local texts = system_texts({ 2 })
      assert.same({ nil, expected_message(2, texts), 2 }, res.R.missing)
    end)
  end)

  it("returns the stand-in's errors as nil, message, code", function()
    -- function, code, the call that reaches it
    local CASES = {
      { "RmStartSession", 353, "core.start_session()" },
      { "RmJoinSession", 5, "core.join_session(KEY)" },
      { "RmEndSession", 6, "s:end_session()" },
      { "RmRegisterResources", 5, "s:register_resources({ 'C:\\\\x' })" },
      { "RmGetList", 5, "s:get_list(4)" },
      { "RmGetList", 1627, "s:get_list(4)" },
      { "RmShutdown", 350, "s:shutdown(0, function() end)" },
      { "RmShutdown", 351, "s:shutdown(1)" },
      { "RmRestart", 352, "s:restart(function() end)" },
      { "RmRestart", 776, "s:restart()" },
      { "RmCancelCurrentTask", 1219, "s:cancel()" },
      { "RmAddFilter", 1219, "s:add_filter('service', 'x', 'no_restart')" },
      { "RmRemoveFilter", 2, "s:remove_filter('file', 'C:\\\\x')" },
      { "RmGetFilterList", 1219, "s:get_filter_list()" },
    }
    local parts = { "local core = require 'restartmanager.core'",
      "local KEY = '" .. KEY .. "'", "R.results = {}" }
    for i, c in ipairs(CASES) do
      parts[#parts + 1] = ([[
        scenario("key " .. KEY .. "\nfail %s %d\n")
        do
          local s = %s
          R.results[%d] = { %s }
          if s then s:end_session() end
        end]]):format(c[1], c[2], c[1] == "RmStartSession"
          and "nil" or "assert(core.start_session())", i,
          c[3])
    end
    local res = run(table.concat(parts, "\n"), "")
    local codes = {}
    for _, c in ipairs(CASES) do codes[#codes + 1] = c[2] end
    local texts = system_texts(codes)
    for i, c in ipairs(CASES) do
      assert.same({ nil, expected_message(c[2], texts), c[2] },
        res.R.results[i], c[1] .. " " .. c[2])
      assert.truthy(res.log:find("return " .. c[1] .. " " .. c[2], 1, true),
        c[1])
    end
  end)

  it("builds the i686 stand-in with every export the module imports",
    function()
      for _, d in ipairs { { W.WIN64, W.STANDIN }, { W.WIN32, W.STANDIN32 } } do
        local imports = H.sh("x86_64-w64-mingw32-objdump -p "
          .. H.q(d[1] .. "/restartmanager/core.dll"))
        local exports = H.sh("x86_64-w64-mingw32-objdump -p "
          .. H.q(d[2] .. "/rstrtmgr.dll"))
        local wanted = {}
        local block = imports:match("DLL Name: [Rr][Ss][Tt][Rr][Tt][Mm][Gg][Rr]"
          .. "%.[Dd][Ll][Ll]\n(.-)\n\n")
        assert.is_string(block, imports)
        for name in block:gmatch("%d+%s+(Rm%w+)") do wanted[#wanted + 1] = name end
        assert.equal(11, #wanted, block)
        for _, name in ipairs(wanted) do
          assert.matches("%] " .. name .. "\n", exports)
        end
      end
    end)
end)
