--- Which registered paths do not exist. Used by `restartmanager.update`,
-- `close`, `plan`, `who_uses` and the command-line tool, which refuse a
-- path that does not exist unless told to accept it (`allow_missing`).
--
-- Nothing is read: on POSIX the path is opened as a directory (`PATH/`),
-- which never blocks (a fifo or a device is not opened) and has no effect
-- on a file; on Windows the core looks it up with the UTF-16 API
-- (`core.path_exists`: Lua's own `io.open` goes through the ANSI code page).
-- @module restartmanager.paths
-- @alias F
local F = {}

local core = require "restartmanager.core"

local ENOENT, ENOTDIR = 2, 20
local windows = package.config:sub(1, 1) == "\\"

local function parent(path)
  local dir = path:match("^(.*)/[^/]*$")
  if dir == nil then return "." end
  return dir
end

-- how opening path (as a directory, on POSIX) fails: nil when it opens
local function open_errno(path)
  local f, _, errno = io.open(path, "rb")
  if f then
    f:close()
    return nil
  end
  return errno
end

--- Whether a path exists. A path that cannot be looked at (no permission
-- on a directory above it) counts as existing: only a path known to be
-- missing is reported.
-- @tparam string path
-- @treturn boolean
function F.exists(path)
  if windows then
    -- io.open takes the ANSI code page's names: the core asks with UTF-16
    local known = core.path_exists(path)
    if known ~= nil then return known end
    return open_errno(path) ~= ENOENT
  end
  local trimmed = path:gsub("/+$", "")
  if trimmed == "" then return true end
  local e = open_errno(trimmed .. "/")
  if e == nil then return true end -- a directory
  if e == ENOENT then return false end
  if e ~= ENOTDIR then return true end
  -- not a directory: the path exists, unless a directory above it is not
  -- one
  local up = open_errno(parent(trimmed) .. "/")
  return up ~= ENOTDIR and up ~= ENOENT
end

--- The paths of a list that do not exist, in the list's order.
-- @tparam {string,...} paths
-- @treturn {string,...}
function F.missing(paths)
  local out = {}
  for _, p in ipairs(paths) do
    if type(p) == "string" and p ~= "" and not F.exists(p) then
      out[#out + 1] = p
    end
  end
  return out
end

return F
