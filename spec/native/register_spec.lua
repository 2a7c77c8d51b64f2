-- What register_resources records and how get_list finds it again: paths
-- relative to a working directory that is gone, and files replaced at a
-- registered path, with real processes holding real files.
local H = require "spec.helpers"

describe("registered paths", function()
  local core, fx

  setup(function()
    core = require "restartmanager.core"
  end)

  before_each(function()
    fx = H.scratch()
  end)

  after_each(function() fx.cleanup() end)

  local function listed(s, pid)
    local apps = assert(s:get_list(1000))
    for _, a in ipairs(apps) do
      if a.pid == pid then return a end
    end
    return nil
  end

  it("refuses a relative path when the working directory is gone, and "
    .. "loses none of the call's other paths", function()
      local f = fx.file("held")
      local h = fx.holder("open " .. H.q(f))
      local gone = fx.dir .. "/gone"
      H.sh("mkdir " .. H.q(gone))
      -- the child's working directory is removed before it registers
      local out = H.sh("cd " .. H.q(gone) .. " && rmdir " .. H.q(gone)
        .. " && env " .. H.lua_env() .. " " .. H.LUA .. " -e " .. H.q(([[
          local core = require "restartmanager.core"
          local s = assert(core.start_session())
          local ok, msg, code = s:register_resources({ %q, "relative" })
          print("first", ok, code, msg)
          local function holder_listed()
            for _, a in ipairs(assert(s:get_list(1000))) do
              if a.pid == %d then return true end
            end
            return false
          end
          print("listed", holder_listed())
          assert(s:register_resources({ %q }))
          print("again", holder_listed())
        ]]):format(f, h.pid, f)) .. " 2>&1")
      -- nothing half-registered: the call fails and says why...
      assert.matches("first\tnil\t160\tERROR_BAD_ARGUMENTS %(160%)", out)
      -- ...and the absolute path of that call is registered by itself later
      assert.matches("listed\tfalse\n", out)
      assert.matches("again\ttrue\n", out)
    end)

  it("still resolves a relative path against a working directory that "
    .. "exists", function()
      local f = fx.file("held")
      local h = fx.holder("open " .. H.q(f))
      local out = H.sh("cd " .. H.q(fx.dir) .. " && env " .. H.lua_env()
        .. " " .. H.LUA .. " -e " .. H.q(([[
          local core = require "restartmanager.core"
          local s = assert(core.start_session())
          assert(s:register_resources({ "held" }))
          for _, a in ipairs(assert(s:get_list(1000))) do
            if a.pid == %d then print("listed") end
          end
        ]]):format(h.pid)) .. " 2>&1")
      assert.equal("listed\n", out)
    end)

  it("lists who uses the file now at a registered path, and who still "
    .. "holds the file registered there", function()
      local f = fx.file("config")
      local before = fx.holder("open " .. H.q(f))
      local s <close> = assert(core.start_session())
      assert.is_true(s:register_resources({ f }))
      -- an update puts a new file at the path (a new inode)
      local new = fx.file("config.new", "new contents")
      assert(os.rename(new, f))
      local after = fx.holder("open " .. H.q(f))
      assert.is_table(listed(s, after.pid),
        "a process that opened the new file is not listed")
      assert.is_table(listed(s, before.pid),
        "a process that holds the replaced file is not listed")
    end)

  it("lists who uses a file created at a path that did not exist when it "
    .. "was registered", function()
      local f = fx.dir .. "/later"
      local s <close> = assert(core.start_session())
      assert.is_true(s:register_resources({ f }))
      fx.file("later")
      local h = fx.holder("open " .. H.q(f))
      assert.is_table(listed(s, h.pid))
    end)
end)
