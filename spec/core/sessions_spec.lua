-- Sessions across processes and users: the native session store.
local H = require "spec.helpers"

describe("native sessions", function()
  local core

  setup(function()
    core = require "restartmanager.core"
  end)

  -- A primary in another process: it starts a session, prints its key and
  -- waits (in the open of a fifo nobody writes: no child of its own to
  -- outlive it) until it is killed.
  local function primary()
    local dir = H.tmpdir()
    H.sh("mkfifo " .. H.q(dir .. "/never"))
    H.finally(finally, function() H.sh("rm -rf " .. H.q(dir)) end)
    return H.spawn(([[
      local core = require "restartmanager.core"
      local s, key = core.start_session()
      io.write("key=", key, "\n") io.flush()
      io.open(%q):read("l")
    ]]):format(dir .. "/never"))
  end

  it("lets a second OS process join by key and leave", function()
    local p, key = core.start_session()
    H.finally(finally, function() p:end_session() end)
    local out, rc = H.lua(([[
      local core = require "restartmanager.core"
      local s, msg, code = core.join_session(%q)
      if not s then print("join failed", msg, code) os.exit(2) end
      print(tostring(s))
      print(s:end_session())
    ]]):format(key))
    assert.equal(0, rc, out)
    assert.equal("restartmanager.Session (secondary, key " .. key .. ")\n"
      .. "true\n", out)
    assert.is_true(H.store_keys()[key])
  end)

  describe("a private session", function()
    it("is never in the store and cannot be joined", function()
      local store = H.tmpdir()
      local out, rc = H.lua([[
        local core = require "restartmanager.core"
        local s, key = assert(core.start_session { private = true })
        assert(#key == 32 and s:is_primary())
        assert(s:register_resources({ "/etc/hostname", "/nowhere" }, nil,
          { "cron" }))
        assert(s:get_list(100))
        local j, msg, code = core.join_session(key)
        print(j, code)
        -- a primary's calls and cancel by key work as for any session
        print(assert(s:add_filter("file", "/etc/hostname", "no_restart")))
        print(core.cancel(key))
        print(s:end_session(), s:end_session())
      ]], { env = "XDG_RUNTIME_DIR=" .. H.q(store) })
      -- (the join made the store, and found nothing in it)
      local left = H.sh("ls -A " .. H.q(store .. "/restartmanager"))
      H.sh("rm -rf " .. H.q(store))
      assert.equal(0, rc, out)
      assert.equal("nil\t1219\ntrue\ntrue\ntrue\ttrue\n", out)
      assert.equal("", left, "the private session was in the store")
    end)

    it("takes a boolean", function()
      assert.has_error(function() core.start_session { private = "yes" } end)
      assert.has_error(function() core.start_session(1) end)
      local s = assert(core.start_session { private = false })
      assert.is_true(H.store_keys()[s:key()])
      s:end_session()
    end)
  end)

  it("refuses a join from user nobody with 1219", function()
    local prefix = H.as_nobody()
    if not prefix then
      pending("needs root to run a process as nobody")
      return
    end
    local p, key = core.start_session()
    H.finally(finally, function() p:end_session() end)
    local copy = H.world_readable_copy()
    H.finally(finally, function() H.sh("rm -rf " .. H.q(copy)) end)
    local out, rc = H.lua(([[
      local core = require "restartmanager.core"
      local s, msg, code = core.join_session(%q)
      print(s, code)
    ]]):format(key), { env = H.lua_env_at(copy), prefix = prefix })
    assert.equal(0, rc, out)
    assert.equal("nil\t1219\n", out)
  end)

  it("allows 64 live sessions per user and refuses the 65th with 353",
    function()
      local sessions = {}
      H.finally(finally, function()
        for _, s in ipairs(sessions) do s:end_session() end
      end)
      -- sessions of other specs may be alive in this process, or garbage
      -- not yet collected
      collectgarbage()
      collectgarbage()
      local live = 0
      for _ in pairs(H.store_keys()) do live = live + 1 end
      for i = live + 1, 64 do
        local s, msg = core.start_session()
        assert.is_not_nil(s, "session " .. i .. ": " .. tostring(msg))
        sessions[#sessions + 1] = s
      end
      local s, msg, code = core.start_session()
      assert.is_nil(s)
      assert.equal(353, code)
      assert.matches("^ERROR_MAX_SESSIONS_REACHED %(353%)", msg)
      -- one ends, one more may start
      table.remove(sessions):end_session()
      local again = assert(core.start_session())
      sessions[#sessions + 1] = again
    end)

  it("cleans the session of a SIGKILLed primary on the next start", function()
    local child = primary()
    H.finally(finally, function() child.kill("KILL") end)
    local key = child.wait_line("key=(%x+)")
    assert.is_true(H.store_keys()[key])
    -- alive: joinable
    local j = assert(core.join_session(key))
    child.kill("KILL")
    -- the secondary's handle now reports the dead session
    local ok, _, code = j:register_resources()
    assert.is_nil(ok)
    assert.equal(6, code)
    j:end_session()
    assert.is_true(H.store_keys()[key], "not cleaned before a start")
    local s = assert(core.start_session())
    s:end_session()
    assert.is_nil(H.store_keys()[key])
    local none, _, jcode = core.join_session(key)
    assert.is_nil(none)
    assert.equal(1219, jcode)
  end)

  it("cleans a stale session on join as well", function()
    local child = primary()
    H.finally(finally, function() child.kill("KILL") end)
    local key = child.wait_line("key=(%x+)")
    child.kill("KILL")
    local s, _, code = core.join_session(key)
    assert.is_nil(s)
    assert.equal(1219, code)
    assert.is_nil(H.store_keys()[key])
  end)

  it("gives 6 on a secondary's handle once the primary ended", function()
    local p, key = core.start_session()
    local s = assert(core.join_session(key))
    p:end_session()
    local ok, msg, code = s:register_resources({ "/etc/hostname" })
    assert.is_nil(ok)
    assert.equal(6, code)
    assert.matches("^ERROR_INVALID_HANDLE %(6%)", msg)
    local l, _, lcode = s:get_list(0)
    assert.is_nil(l)
    assert.equal(6, lcode)
    s:end_session()
  end)

  it("refuses the primary-only calls to a secondary with 1219", function()
    local p, key = core.start_session()
    H.finally(finally, function() p:end_session() end)
    local out, rc = H.lua(([[
      local core = require "restartmanager.core"
      local s = assert(core.join_session(%q))
      local proc = { pid = 1, start_time = 0 }
      local calls = {
        shutdown = function() return s:shutdown(0) end,
        restart = function() return s:restart() end,
        cancel = function() return s:cancel() end,
        add_filter = function() return s:add_filter("file", "/x", "no_restart") end,
        remove_filter = function() return s:remove_filter("process", proc) end,
        get_filter_list = function() return s:get_filter_list() end,
      }
      for _, name in ipairs { "shutdown", "restart", "cancel", "add_filter",
          "remove_filter", "get_filter_list" } do
        local ok, msg, code = calls[name]()
        print(name, ok, code)
      end
      s:end_session()
    ]]):format(key))
    assert.equal(0, rc, out)
    assert.equal(table.concat({
      "shutdown\tnil\t1219", "restart\tnil\t1219", "cancel\tnil\t1219",
      "add_filter\tnil\t1219", "remove_filter\tnil\t1219",
      "get_filter_list\tnil\t1219", "" }, "\n"), out)
  end)

  describe("the store", function()
    local dir

    before_each(function()
      dir = H.tmpdir()
    end)
    after_each(function()
      H.sh("chattr -i " .. H.q(dir) .. " 2>/dev/null; rm -rf " .. H.q(dir))
    end)

    local function start_with_runtime_dir(extra)
      return H.lua([[
        local core = require "restartmanager.core"
        local s, msg, code = core.start_session()
        print(s and "started" or msg, code)
      ]], { env = "XDG_RUNTIME_DIR=" .. H.q(dir) .. " " .. (extra or "") })
    end

    it("is created 0700 under XDG_RUNTIME_DIR", function()
      local out = start_with_runtime_dir()
      assert.equal("started\tnil\n", out)
      local mode = H.sh("stat -c %a " .. H.q(dir .. "/restartmanager"))
      assert.equal("700\n", mode)
    end)

    it("is refused when it is a symlink", function()
      H.sh("mkdir -m 700 " .. H.q(dir .. "/real") .. " && ln -s real "
        .. H.q(dir .. "/restartmanager"))
      local out = start_with_runtime_dir()
      assert.matches("^ERROR_ACCESS_DENIED %(5%).*\t5\n$", out)
      -- the message names the store
      assert.truthy(out:find(dir .. "/restartmanager is not a private", 1,
        true), out)
      assert.equal("", H.sh("ls -A " .. H.q(dir .. "/real")))
    end)

    it("is refused when group or others may enter it", function()
      H.sh("mkdir -m 755 " .. H.q(dir .. "/restartmanager"))
      local out = start_with_runtime_dir()
      assert.matches("^ERROR_ACCESS_DENIED %(5%).*\t5\n$", out)
    end)

    it("is refused when another user owns it", function()
      if not H.is_root() then
        pending("needs root to make a directory of another user")
        return
      end
      H.sh("mkdir -m 700 " .. H.q(dir .. "/restartmanager") .. " && chown nobody "
        .. H.q(dir .. "/restartmanager"))
      local out = start_with_runtime_dir()
      assert.matches("^ERROR_ACCESS_DENIED %(5%).*\t5\n$", out)
    end)
  end)
end)
