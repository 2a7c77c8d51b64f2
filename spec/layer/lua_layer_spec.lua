-- restartmanager (the Lua layer): start, join, close.
local H = require "spec.helpers"

describe("restartmanager", function()
  local rm

  setup(function()
    rm = require "restartmanager"
  end)

  it("starts a session with a key and closes it", function()
    local s = assert(rm.start())
    assert.is_true(s.primary)
    assert.equal(32, #s.key)
    assert.is_true(H.store_keys()[s.key])
    assert.is_false(s:closed())
    assert.equal("restartmanager session (primary, key " .. s.key .. ")",
      tostring(s))
    assert.is_true(s:close())
    assert.is_true(s:close())
    assert.is_true(s:closed())
    assert.is_nil(H.store_keys()[s.key])
  end)

  it("closes on leaving a <close> scope", function()
    local key = load([[
      local rm = ...
      local s <close> = assert(rm.start())
      return s.key
    ]])(rm)
    assert.is_nil(H.store_keys()[key])
  end)

  it("joins by key, and by the key handed through the environment", function()
    local p = assert(rm.start())
    H.finally(finally, function() p:close() end)
    local s = assert(rm.join(p.key))
    assert.is_false(s.primary)
    s:close()
    local out, rc = H.lua([[
      local rm = require "restartmanager"
      local s = assert(rm.join())
      print(s.key, s.primary)
      s:close()
    ]], { env = rm.KEY_ENV .. "=" .. p.key })
    assert.equal(0, rc, out)
    assert.equal(p.key .. "\tfalse\n", out)
  end)

  it("takes the handed key from the command line first", function()
    assert.equal("abc", rm.handed_key { "x", "--restartmanager-key=abc" })
    assert.is_nil(rm.handed_key { "x", "--restartmanager-key" })
  end)

  it("returns nil, message, code when a join fails", function()
    local s, msg, code = rm.join(("f"):rep(32))
    assert.is_nil(s)
    assert.equal(1219, code)
    assert.matches("ERROR_SESSION_CREDENTIAL_CONFLICT", msg)
  end)

  it("raises on a key of the wrong type, or none at all", function()
    assert.has_error(function() rm.join(5) end,
      "bad argument #1 to 'join' (string expected, got number)")
    local out = H.lua([[
      local rm = require "restartmanager"
      print(pcall(rm.join))
    ]], { prefix = "env -u " .. rm.KEY_ENV })
    assert.matches("no session key", out)
  end)
end)
