-- restartmanager.core: sessions, the closer, constants, argument checks.
local H = require "spec.helpers"

describe("restartmanager.core", function()
  local core

  setup(function()
    core = require "restartmanager.core"
  end)

  it("leaves _G unchanged when required", function()
    local out, rc = H.lua([[
      local before = {}
      for k in pairs(_G) do before[k] = true end
      package.loaded["restartmanager.core"] = nil
      package.loaded["restartmanager"] = nil
      require "restartmanager.core"
      require "restartmanager"
      for k in pairs(_G) do
        if not before[k] then print("new global " .. k) os.exit(1) end
      end
      print("clean")
    ]])
    assert.equal(0, rc, out)
    assert.equal("clean\n", out)
  end)

  it("names its backend and version", function()
    assert.equal("linux", core.backend)
    assert.matches("^%d+%.%d+%.%d+$", core._VERSION)
  end)

  it("has the contract's constants, both ways", function()
    assert.equal(234, core.error.ERROR_MORE_DATA)
    assert.equal("ERROR_MORE_DATA", core.error[234])
    assert.equal(1219, core.error.ERROR_SESSION_CREDENTIAL_CONFLICT)
    assert.equal(350, core.error.ERROR_FAIL_NOACTION_REBOOT)
    assert.equal(776, core.error.ERROR_REQUEST_OUT_OF_SEQUENCE)
    assert.equal(160, core.error.ERROR_BAD_ARGUMENTS)
    assert.equal(1000, core.app_type.critical)
    assert.equal("console", core.app_type[5])
    assert.equal(0x20, core.app_status.error_on_restart)
    assert.equal(0x80, core.app_status.restart_masked)
    assert.equal(0x10, core.reboot_reason.detected_self)
    assert.equal("permission_denied", core.reboot_reason[1])
    assert.equal(0x10, core.shutdown.only_registered)
    assert.equal(1, core.shutdown.force)
    assert.equal(2, core.filter_action.no_shutdown)
    assert.equal(4, core.restart.no_patch)
  end)

  describe("a session", function()
    it("starts with a 32-hex key, visible in the store, and ends", function()
      local s, key = core.start_session()
      assert.is_userdata(s)
      assert.matches("^%x+$", key)
      assert.equal(32, #key)
      assert.equal(key:lower(), key)
      assert.equal(key, s:key())
      assert.is_true(s:is_primary())
      assert.is_true(H.store_keys()[key])
      assert.is_true(s:end_session())
      assert.is_nil(H.store_keys()[key])
    end)

    it("gets a different key each time", function()
      local a, ka = core.start_session()
      local b, kb = core.start_session()
      assert.not_equal(ka, kb)
      a:end_session()
      b:end_session()
    end)

    it("makes a private store directory", function()
      local s = core.start_session()
      local mode = H.sh("stat -c %a " .. H.q(H.store())):gsub("%s+", "")
      assert.equal("700", mode)
      s:end_session()
    end)

    it("is ended by the garbage collector", function()
      local key
      do
        local s -- luacheck: ignore
        s, key = core.start_session()
        assert.is_true(H.store_keys()[key])
        s = nil -- luacheck: ignore
      end
      collectgarbage()
      collectgarbage()
      assert.is_nil(H.store_keys()[key])
    end)

    it("is ended when a <close> variable leaves its scope", function()
      local key
      local f = load([[
        local core, seen = ...
        local s <close>, k = core.start_session()
        seen(k)
        return k
      ]])
      key = f(core, function(k) assert.is_true(H.store_keys()[k]) end)
      assert.is_nil(H.store_keys()[key])
    end)

    it("can be ended twice", function()
      local s = core.start_session()
      assert.is_true(s:end_session())
      assert.is_true(s:end_session())
    end)

    it("raises 'session is closed' on any other call once ended", function()
      local s = core.start_session()
      s:end_session()
      for _, m in ipairs { "key", "is_primary", "register_resources",
        "get_list", "shutdown", "restart", "cancel", "add_filter",
        "remove_filter", "get_filter_list" } do
        local ok, err = pcall(s[m], s)
        assert.is_false(ok, m)
        assert.matches("session is closed", err, 1, true)
      end
    end)

    it("says what it is in tostring", function()
      local s, key = core.start_session()
      assert.equal("restartmanager.Session (primary, key " .. key .. ")",
        tostring(s))
      s:end_session()
      assert.equal("restartmanager.Session (closed)", tostring(s))
    end)
  end)

  describe("join_session", function()
    it("refuses a malformed key with 1219", function()
      for _, key in ipairs { "", "abc", ("A"):rep(32), ("g"):rep(32),
        "../../../../etc/passwd", ("0"):rep(31) .. "/", ("0"):rep(33),
        ("."):rep(32) } do
        local s, msg, code = core.join_session(key)
        assert.is_nil(s, key)
        assert.equal(1219, code)
        assert.matches("^ERROR_SESSION_CREDENTIAL_CONFLICT %(1219%): ", msg)
      end
    end)

    it("refuses an unknown key with 1219", function()
      local s, _, code = core.join_session(("0"):rep(32))
      assert.is_nil(s)
      assert.equal(1219, code)
    end)

    it("joins a live session in the same process as a secondary", function()
      local p, key = core.start_session()
      local s = assert(core.join_session(key))
      assert.is_false(s:is_primary())
      assert.equal(key, s:key())
      assert.equal("restartmanager.Session (secondary, key " .. key .. ")",
        tostring(s))
      assert.is_true(s:end_session())
      assert.is_true(H.store_keys()[key], "a secondary leaving ends nothing")
      p:end_session()
    end)
  end)

  describe("bad arguments", function()
    local s
    before_each(function() s = core.start_session() end)
    after_each(function() s:end_session() end)

    local function fails(msg, f, ...)
      local ok, err = pcall(f, ...)
      assert.is_false(ok)
      -- the message as the caller sees it, less the caller's position
      assert.equal(msg, (err:gsub("^[^:]+:%d+: ", "")))
    end

    it("join_session", function()
      fails("bad argument #1 to 'restartmanager.core.join_session' "
        .. "(string expected, got no value)", core.join_session)
      fails("bad argument #1 to 'restartmanager.core.join_session' "
        .. "(string expected, got number)", core.join_session, 1)
      fails("bad argument #1 to 'restartmanager.core.join_session' "
        .. "(string contains a zero byte)", core.join_session, "a\0b")
    end)

    it("methods called on something that is not a session", function()
      fails("bad argument #1 to 'end_session' (restartmanager.Session "
        .. "expected, got table)", function() return s.end_session({}) end)
      fails("bad argument #1 to 'get_list' (restartmanager.Session "
        .. "expected, got no value)", function() return s.get_list() end)
      fails("bad argument #1 to 'key' (restartmanager.Session expected, "
        .. "got FILE*)", function() return s.key(io.stdout) end)
    end)

    it("register_resources", function()
      fails("bad argument #1 to 'register_resources' (table expected, got "
        .. "string)",
        function() return s:register_resources("x") end)
      fails("bad argument #1 to 'register_resources' (string expected at "
        .. "index 2, got number)",
        function() return s:register_resources({ "/a", 2 }) end)
      fails("bad argument #1 to 'register_resources' (string at index 1 "
        .. "contains a zero byte)",
        function() return s:register_resources({ "/a\0b" }) end)
      fails("bad argument #2 to 'register_resources' (process table "
        .. "expected at index 1, got number)",
        function() return s:register_resources(nil,
        { 5 }) end)
      fails("bad argument #2 to 'register_resources' (pid must be an integer "
        .. "from 0 to 4294967295 at index 1)",
        function() return s:register_resources(nil,
        { { pid = -1, start_time = 0 } }) end)
      fails("bad argument #2 to 'register_resources' (start_time must be a "
        .. "non-negative integer at index 1)",
        function() return s:register_resources(nil,
        { { pid = 1 } }) end)
      fails("bad argument #3 to 'register_resources' (string expected at "
        .. "index 1, got boolean)",
        function() return s:register_resources(nil, nil,
        { true }) end)
    end)

    it("get_list", function()
      fails("bad argument #1 to 'get_list' (number expected, got string)",
        function() return s:get_list("x") end)
      fails("bad argument #1 to 'get_list' (capacity must be from 0 to "
        .. "1000000)",
        function() return s:get_list(-1) end)
    end)

    it("shutdown and restart", function()
      fails("bad argument #1 to 'shutdown' (number expected, got string)",
        function() return s:shutdown("force") end)
      fails("bad argument #1 to 'shutdown' (flags must be from 0 to "
        .. "4294967295)",
        function() return s:shutdown(-1) end)
      fails("bad argument #2 to 'shutdown' (function expected, got number)",
        function() return s:shutdown(0, 5) end)
      fails("bad argument #3 to 'shutdown' (timeout must be from 0 to "
        .. "2147483647 milliseconds)",
        function() return s:shutdown(0, nil, -5) end)
      fails("bad argument #1 to 'restart' (function expected, got table)",
        function() return s:restart({}) end)
    end)

    it("filters", function()
      fails("bad argument #1 to 'add_filter' (invalid option 'dir')",
        function() return s:add_filter("dir", "/x", "no_restart") end)
      fails("bad argument #2 to 'add_filter' (string expected, got nil)",
        function() return s:add_filter("file", nil, "no_restart") end)
      fails("bad argument #2 to 'add_filter' (process table expected, got "
        .. "string)",
        function() return s:add_filter("process", "1", "no_restart") end)
      fails("bad argument #3 to 'add_filter' (invalid option 'never')",
        function() return s:add_filter("file", "/x", "never") end)
      fails("bad argument #1 to 'remove_filter' (string expected, got no "
        .. "value)",
        function() return s:remove_filter() end)
    end)

    it("cancel by key", function()
      fails("bad argument #1 to 'restartmanager.core.cancel' (string "
        .. "expected, got no value)", core.cancel)
      fails("bad argument #1 to 'restartmanager.core.cancel' (string "
        .. "contains a zero byte)", core.cancel, "a\0b")
    end)

    it("process and restart registration", function()
      fails("bad argument #1 to 'restartmanager.core.process' (number "
        .. "expected, got no value)", core.process)
      fails("bad argument #1 to 'restartmanager.core.process' (pid must be "
        .. "from 0 to 4294967295)", core.process, -3)
      fails("bad argument #1 to "
        .. "'restartmanager.core.register_application_restart' (string "
        .. "expected at index 1, got number)",
        core.register_application_restart, { 1 })
      fails("bad argument #2 to "
        .. "'restartmanager.core.register_application_restart' (flags must "
        .. "be bits of restartmanager.core.restart)",
        core.register_application_restart, {}, 16)
    end)
  end)
end)
