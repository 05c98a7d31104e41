-- The plugin's unit tests, run by Neovim as a Lua interpreter:
--   nvim -l test/run.lua            (from editors/nvim)
-- Every test/*_spec.lua is a table of named functions; `T.eq` compares. Exits 1 on a
-- failure.
local here = vim.fs.dirname(vim.fs.normalize(vim.fn.fnamemodify(arg[0], ':p')))
local root = vim.fs.dirname(here)
package.path = root .. '/lua/?.lua;' .. root .. '/lua/?/init.lua;' .. package.path

T = {}
function T.eq(want, got, what)
  if not vim.deep_equal(want, got) then
    error(('%s: want %s, got %s'):format(what or 'value', vim.inspect(want), vim.inspect(got)), 2)
  end
end

local failed, passed = 0, 0
for _, file in ipairs(vim.fn.glob(here .. '/*_spec.lua', false, true)) do
  local spec = dofile(file)
  local names = vim.tbl_keys(spec)
  table.sort(names)
  for _, name in ipairs(names) do
    local ok, err = pcall(spec[name])
    if ok then
      passed = passed + 1
    else
      failed = failed + 1
      io.stdout:write(('FAIL %s: %s\n  %s\n'):format(vim.fs.basename(file), name, tostring(err)))
    end
  end
end
io.stdout:write(('%d passed, %d failed\n'):format(passed, failed))
os.exit(failed == 0 and 0 or 1)
