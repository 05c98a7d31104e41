-- What the plugin keeps per server (one `ferry lsp` per workspace root): the last
-- `ferry/status` payload, the error already told, the download counters; the handlers
-- and the client command `ferry.compareWithContainer`.

local config = require('ferry.config')
local status = require('ferry.status')

local M = {}

---@class ferry.RootState
---@field payload? table the last `ferry/status`
---@field view? ferry.View
---@field told? string the error last told with vim.notify
---@field downloaded table<string, integer> per sync path (`folder#slot`)

---@type table<string, ferry.RootState>
M.roots = {}

local function norm(dir)
  return dir and vim.fs.normalize(dir) or nil
end

---@param root string
---@return ferry.RootState
function M.state(root)
  root = norm(root)
  local st = M.roots[root]
  if not st then
    st = { downloaded = {} }
    M.roots[root] = st
  end
  return st
end

--- The ferry client of a root, or of the buffer's root (or the only one).
---@param buf? integer
---@return vim.lsp.Client?
function M.client(buf)
  buf = buf or vim.api.nvim_get_current_buf()
  local attached = vim.lsp.get_clients({ name = 'ferry', bufnr = buf })
  if attached[1] then
    return attached[1]
  end
  local all = vim.lsp.get_clients({ name = 'ferry' })
  local file = vim.api.nvim_buf_get_name(buf)
  for _, c in ipairs(all) do
    local r = norm(c.root_dir)
    if r and file ~= '' and vim.fs.relpath and vim.fs.relpath(r, file) then
      return c
    end
  end
  if #all == 1 then
    return all[1]
  end
  return nil
end

--- Reloads the unmodified buffers of files under `dir` (`:checktime`), so that files the
--- container wrote show without the user doing anything.
---@param dir string
function M.reload_under(dir)
  dir = norm(dir)
  for _, b in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(b) and vim.bo[b].buftype == '' and not vim.bo[b].modified then
      local name = vim.api.nvim_buf_get_name(b)
      if name ~= '' and (name == dir or name:sub(1, #dir + 1) == dir .. '/') then
        local had = vim.api.nvim_get_option_value('autoread', { buf = b })
        vim.bo[b].autoread = true
        pcall(vim.cmd.checktime, b)
        if not had then
          vim.bo[b].autoread = had
        end
      end
    end
  end
end

--- The `ferry/status` handler.
---@param result table
---@param ctx lsp.HandlerContext
function M.on_status(_, result, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if not client or type(result) ~= 'table' then
    return
  end
  local st = M.state(client.root_dir or '')
  local opts = config.get()
  st.payload = result
  local before = st.view and st.view.text
  st.view = status.format(result, opts.symbols)

  -- Errors: told once, again only when they change; not again while a path keeps
  -- failing between retries (error → connecting → error).
  local look = st.view.look
  if look == 'error' then
    local what = st.view.error or st.view.text
    if st.told ~= what then
      st.told = what
      if opts.notify then
        vim.notify('ferry: ' .. what, vim.log.levels.ERROR, { title = 'ferry' })
      end
    end
  elseif look ~= 'busy' then
    st.told = nil
  end

  -- Files arrived from the container: reload their unmodified buffers.
  for _, p in ipairs(type(result.paths) == 'table' and result.paths or {}) do
    local key = ('%s#%s'):format(tostring(p.folder), tostring(p.id))
    local n = type(p.downloaded) == 'number' and p.downloaded or 0
    local prev = st.downloaded[key]
    st.downloaded[key] = n
    if prev and n > prev and type(p.localPath) == 'string' then
      M.reload_under(p.localPath)
    end
  end

  if st.view.text ~= before then
    vim.cmd.redrawstatus({ bang = true })
    vim.api.nvim_exec_autocmds('User', {
      pattern = 'FerryStatus',
      modeline = false,
      data = { root = client.root_dir, text = st.view.text, look = look, status = result },
    })
  end
end

--- The sync path (entry of the last payload) holding `file`, and `file` relative to it.
---@param file string absolute
---@param buf? integer
---@return table? path, string? rel
function M.path_of(file, buf)
  local c = M.client(buf)
  local st = c and M.roots[norm(c.root_dir)]
  local best, rel
  for _, p in ipairs(st and st.payload and st.payload.paths or {}) do
    local lp = type(p.localPath) == 'string' and norm(p.localPath)
    if lp and file:sub(1, #lp + 1) == lp .. '/' and (not best or #lp > #best.localPath) then
      best, rel = p, file:sub(#lp + 2)
    end
  end
  return best, rel
end

--- Opens a diff of the local `file` against the container's version at `theirs`.
---@param file string
---@param theirs string
function M.diff(file, theirs)
  if vim.fs.normalize(vim.api.nvim_buf_get_name(0)) ~= vim.fs.normalize(file) then
    vim.cmd.edit(vim.fn.fnameescape(file))
  end
  vim.cmd('vertical diffsplit ' .. vim.fn.fnameescape(theirs))
  vim.bo.readonly = true
  vim.bo.modifiable = false
  vim.b.ferry_container_version = true
end

--- `ferry.compareWithContainer` (`{folder, slot, path}`): a diff of the local file against
--- the container's version — for a conflict its copy (both sides hold the local version by
--- then), otherwise what `ferry.server.containerVersion` fetches (docs/protocol.md).
---@param command lsp.Command
---@param ctx table
function M.compare_with_container(command, ctx)
  local arg = (command.arguments or {})[1] or {}
  local client = vim.lsp.get_client_by_id(ctx.client_id) or M.client(ctx.bufnr)
  if not client then
    vim.notify('ferry: no ferry server', vim.log.levels.ERROR)
    return
  end
  local st = M.roots[norm(client.root_dir)]
  local root = status.local_path(st and st.payload, arg.folder, arg.slot)
  local file = root and (root .. '/' .. arg.path) or vim.api.nvim_buf_get_name(ctx.bufnr or 0)
  local key = { folder = arg.folder, slot = arg.slot, path = arg.path }
  local function fetch()
    client:request('workspace/executeCommand', {
      command = 'ferry.server.containerVersion',
      arguments = { key },
    }, function(err, result)
      if err or type(result) ~= 'table' or not result.path then
        vim.notify('ferry: cannot fetch the container\'s version: ' .. (err and err.message or 'no answer'), vim.log.levels.ERROR)
        return
      end
      M.diff(file, result.path)
    end, ctx.bufnr)
  end
  client:request('workspace/executeCommand', {
    command = 'ferry.server.conflicts',
    arguments = { { folder = arg.folder } },
  }, function(err, result)
    for _, p in ipairs(not err and type(result) == 'table' and result or {}) do
      if p.slot == arg.slot and root then
        for _, c in ipairs(p.conflicts or {}) do
          if c.path == arg.path and type(c.copy) == 'string' and c.copy ~= '' then
            M.diff(file, root .. '/' .. c.copy)
            return
          end
        end
      end
    end
    fetch()
  end, ctx.bufnr)
end

--- `ferry.server.resolve` run from a code action, by the plugin so that the buffers of the
--- resolved files are reloaded at once. (`expect`'s mtimes go back as Lua's doubles, e.g.
--- `1.796190336e+18`: the server reads those and compares them to within 1 µs.)
---@param command lsp.Command
---@param ctx table
function M.resolve(command, ctx)
  local client = vim.lsp.get_client_by_id(ctx.client_id)
  if not client then
    return
  end
  local args = command.arguments or {}
  client:request('workspace/executeCommand', { command = 'ferry.server.resolve', arguments = args }, function(err, r)
    if err then
      vim.notify('ferry: ' .. (err.message or 'resolve failed'), vim.log.levels.ERROR)
      return
    end
    for _, p in ipairs(M.roots[norm(client.root_dir)] and M.roots[norm(client.root_dir)].payload.paths or {}) do
      M.reload_under(p.localPath)
    end
    vim.api.nvim_echo({ { 'ferry: ' .. ((r and r.done) or 'resolved') } }, true, {})
  end, ctx.bufnr)
end

--- Checks the server's protocol version (`experimental.ferry.protocolVersion`).
---@param client vim.lsp.Client
function M.on_init(client)
  local caps = client.server_capabilities or {}
  local v = vim.tbl_get(caps, 'experimental', 'ferry', 'protocolVersion')
  if v ~= 1 then
    vim.notify(
      ('ferry: the server speaks protocol %s; this plugin speaks 1. Update ferry or the plugin.'):format(tostring(v)),
      vim.log.levels.ERROR
    )
    client:stop()
  end
end

--- Forgets a stopped client's state.
---@param client_id integer
function M.on_exit(_, _, client_id)
  local client = vim.lsp.get_client_by_id(client_id)
  if client and client.root_dir then
    M.roots[norm(client.root_dir)] = nil
    vim.schedule(function()
      vim.cmd.redrawstatus({ bang = true })
    end)
  end
end

return M
