--- The error codes of the Lua layer and the one way its messages are
-- written: `"NAME (code): text"`, as the C core writes its own.
--
-- `codes` holds every name of `restartmanager.core.error` and the codes the
-- Lua layer adds for failures the Restart Manager has no code of its own
-- for (Win32 codes, like the rest):
--
-- * `ERROR_PRIVILEGE_NOT_HELD` (1314): processes could not be inspected and
--   the caller is not allowed to look into them (not root); they may use
--   the files (see `allow_uninspected`)
-- * `ERROR_INSTALL_FAILURE` (1603): the update function said it failed
--   (it returned `nil, message` or `false`)
--
-- @module restartmanager.errors
-- @alias E
local core = require "restartmanager.core"

local E = {}

--- Every error name with its code: the core's and the layer's own.
E.codes = setmetatable({
  ERROR_PRIVILEGE_NOT_HELD = 1314,
  ERROR_INSTALL_FAILURE = 1603,
}, { __index = core.error })

--- A message and its code.
-- @tparam string name an error name of `codes`
-- @tparam string fmt the text, a `string.format` format
-- @param ... its arguments
-- @treturn string `"NAME (code): text"`
-- @treturn integer the code
function E.message(name, fmt, ...)
  local code = E.codes[name]
  if not code then error("no error code named " .. tostring(name), 2) end
  return ("%s (%d): " .. fmt):format(name, code, ...), code
end

return E
