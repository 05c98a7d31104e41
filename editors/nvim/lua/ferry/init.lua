-- ferry for Neovim: the public API. Nothing here needs `setup()`; `vim.g.ferry` works
-- the same. See `:help ferry`.

local M = {}

--- Sets options (optional; `vim.g.ferry = {…}` works the same). Running servers get the
--- new server settings at once (`workspace/didChangeConfiguration`); a new `binary` is
--- used by servers started later.
---@param opts? ferry.Options
function M.setup(opts)
  local config = require('ferry.config')
  config.set(opts)
  local settings = config.server_settings()
  for _, c in ipairs(vim.lsp.get_clients({ name = 'ferry' })) do
    c.settings = { ferry = settings }
    c:notify('workspace/didChangeConfiguration', { settings = c.settings })
  end
end

local function has_config(dir)
  return vim.uv.fs_stat(dir .. '/devspace.yaml') ~= nil or vim.uv.fs_stat(dir .. '/.devspace/config.yaml') ~= nil
end

--- The workspace root of a buffer: the nearest folder with `devspace.yaml` or
--- `.devspace/config.yaml`, or nil.
---@param buf? integer
---@return string?
function M.root(buf)
  buf = buf or vim.api.nvim_get_current_buf()
  local name = vim.api.nvim_buf_get_name(buf)
  if name == '' or name:match('^%a[%w+.-]*://') then
    return nil
  end
  local dir = vim.fs.dirname(vim.fs.normalize(vim.fn.fnamemodify(name, ':p')))
  while dir do
    if has_config(dir) then
      return dir
    end
    local parent = vim.fs.dirname(dir)
    if parent == dir then
      return nil
    end
    dir = parent
  end
  return nil
end

--- Attaches the buffer to the ferry server of its root (starting it when the root has
--- none); does nothing outside a root. Buffers of every file type, and of none.
---@param buf? integer
---@return integer? client_id
function M.attach(buf)
  buf = (buf == nil or buf == 0) and vim.api.nvim_get_current_buf() or buf
  if not vim.api.nvim_buf_is_valid(buf) or vim.bo[buf].buftype ~= '' then
    return nil
  end
  local root = M.root(buf)
  -- Not ferry's own state (`.ferry/`: the sync log, compare copies).
  if not root or vim.api.nvim_buf_get_name(buf):find('/.ferry/', #root, true) then
    return nil
  end
  local cfg = vim.lsp.config.ferry
  if not cfg then
    return nil
  end
  cfg = vim.deepcopy(cfg)
  cfg.name = 'ferry'
  cfg.root_dir = root
  -- A user's `root_dir` function may refuse the buffer.
  return vim.lsp.start(cfg, { bufnr = buf })
end

--- The last `ferry/status` payload of the buffer's root (nil before the first one).
---@param buf? integer
---@return table?
function M.status(buf)
  local client = require('ferry.client')
  local c = client.client(buf)
  local st = c and client.roots[vim.fs.normalize(c.root_dir or '')]
  return st and st.payload or nil
end

--- The statusline text of the buffer's root: `ferry ✓`, `ferry ↑3 ↓1`, `ferry 42%`,
--- `ferry ✗ no pod`, … (empty when the buffer has no ferry server). Cheap: formatted
--- once per status change, not per call.
---@param buf? integer
---@return string
function M.statusline(buf)
  local ok, client = pcall(require, 'ferry.client')
  if not ok then
    return ''
  end
  buf = buf or vim.api.nvim_get_current_buf()
  local c = client.client(buf)
  if not c then
    return ''
  end
  local st = client.roots[vim.fs.normalize(c.root_dir or '')]
  if not st or not st.view then
    return 'ferry ' .. require('ferry.config').get().symbols.busy
  end
  return st.view.text
end

--- What the statusline shows, in one word: ok, busy, warning, error, stopped, locked,
--- idle; nil without a server (for highlight groups in statusline plugins).
---@param buf? integer
---@return ferry.Look?
function M.look(buf)
  local client = require('ferry.client')
  local c = client.client(buf)
  local st = c and client.roots[vim.fs.normalize(c.root_dir or '')]
  return st and st.view and st.view.look or (c and 'busy' or nil)
end

return M
