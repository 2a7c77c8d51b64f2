--- Argument checks shared by the modules of the Lua layer. Misuse raises
-- (`error` at the caller's `level`); these return the checked value.
-- @module restartmanager.check
-- @alias K
local K = {}

--- Whether `f` can be called (a function, or a table or userdata with
-- `__call`).
-- @param f
-- @treturn boolean
function K.callable(f)
  if type(f) == "function" then return true end
  local mt = getmetatable(f)
  return type(mt) == "table" and mt.__call ~= nil
end

--- Argument `n` of function `fname` must be a table.
-- @param v the argument
-- @tparam integer n its position
-- @tparam string fname the function's name
-- @tparam integer level as for `error`, from the caller of `table_arg`
-- @treturn table v
function K.table_arg(v, n, fname, level)
  if type(v) ~= "table" then
    error(("bad argument #%d to '%s' (table expected, got %s)"):format(n,
      fname, type(v)), level + 1)
  end
  return v
end

--- An optional options table (argument #1 of `fname`): `{}` when nil.
-- @param opts
-- @tparam string fname
-- @tparam integer level as for `error`, from the caller of `opts`
-- @treturn table
function K.opts(opts, fname, level)
  if opts == nil then return {} end
  return K.table_arg(opts, 1, fname, level + 1)
end

--- The most entries an array argument may have (the C core's bound).
K.MAX_ITEMS = 10000000

--- The length of array `t` (its `__len` included), refused when it is not
-- an integer from 0 to `MAX_ITEMS`: a table that claims
-- `math.maxinteger` entries is an error, not a loop without end.
-- @tparam table t
-- @tparam string what names it in the message ("field 'files'")
-- @tparam integer level as for `error`, from the caller of `len`
-- @treturn integer
function K.len(t, what, level)
  local n = #t
  if math.type(n) ~= "integer" or n < 0 or n > K.MAX_ITEMS then
    error(("bad %s (array too large: %s entries, at most %d)"):format(what,
      tostring(n), K.MAX_ITEMS), level + 1)
  end
  return n
end

--- An optional array field: `{}` when nil; its length is bounded (`len`).
-- @param t
-- @tparam string name the field's name
-- @tparam integer level as for `error`, from the caller of `opt_array`
-- @treturn table
-- @treturn integer its length
function K.opt_array(t, name, level)
  if t ~= nil and type(t) ~= "table" then
    error(("bad field '%s' (table expected, got %s)"):format(name, type(t)),
      level + 1)
  end
  if t == nil then return {}, 0 end
  return t, K.len(t, "field '" .. name .. "'", level + 1)
end

--- An optional option that must be callable.
-- @param f
-- @tparam string name the option's name
-- @tparam integer level as for `error`, from the caller of `opt_function`
-- @return f
function K.opt_function(f, name, level)
  if f ~= nil and not K.callable(f) then
    error(("bad option '%s' (function expected, got %s)"):format(name,
      type(f)), level + 1)
  end
  return f
end

--- The kinds of resources a resources table may name.
K.RESOURCE_KINDS = { files = true, processes = true, services = true }

--- A resources table, argument #1 of `fname`: a table whose only keys are
-- `files`, `processes` and `services`, each nil or a table. Anything else
-- raises, a bare list of paths included (it would register nothing).
-- @param r
-- @tparam string fname
-- @tparam integer level as for `error`, from the caller of `resources`
-- @treturn table r
function K.resources(r, fname, level)
  K.table_arg(r, 1, fname, level + 1)
  for k in pairs(r) do
    if not K.RESOURCE_KINDS[k] then
      if math.type(k) == "integer" then
        error(("bad argument #1 to '%s' (resources table expected, got a "
          .. "list: write {files = {...}})"):format(fname), level + 1)
      end
      error(("bad argument #1 to '%s' (unknown resource kind '%s': files, "
        .. "processes or services expected)"):format(fname, tostring(k)),
        level + 1)
    end
  end
  for kind in pairs(K.RESOURCE_KINDS) do K.opt_array(r[kind], kind, level + 1) end
  return r
end

return K
