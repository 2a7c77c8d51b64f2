-- luacheck settings (`make lint`): Lua 5.4 everywhere; busted's globals in
-- the specs.
std = "lua54"
files["spec/**/*_spec.lua"] = { std = "+busted" }
exclude_files = { "build/**" }
