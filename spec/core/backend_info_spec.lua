-- core.backend_info() on the native build (its Windows side, under Wine, is
-- in windows/wine_stubs_spec.lua and windows/standin_spec.lua).
local H = require "spec.helpers"

describe("core.backend_info on the native backend", function()
  it("names the backend, reports no Wine, and whether the caller is root",
    function()
    local core = require "restartmanager.core"
    local info = core.backend_info()
    assert.same({ backend = "linux", engine = "native", wine = false,
      privileged = H.is_root() }, info)
    assert.equal(core.backend, info.backend)
    -- a fresh table at each call: the caller may keep or change it
    assert.is_false(rawequal(info, core.backend_info()))
  end)
end)
