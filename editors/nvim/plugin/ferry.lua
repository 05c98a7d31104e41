-- ferry: sync the workspace with a Kubernetes container (`ferry lsp`). This file only
-- checks the version and defines `:Ferry` and the autocmd that attaches buffers;
-- everything else is loaded when first used (lua/ferry/). See `:help ferry`.
if vim.g.loaded_ferry then
  return
end
vim.g.loaded_ferry = true

if vim.fn.has('nvim-0.11') ~= 1 then
  vim.notify('ferry needs Neovim 0.11 or later', vim.log.levels.ERROR)
  return
end

vim.api.nvim_create_user_command('Ferry', function(cmd)
  require('ferry.commands').run(cmd)
end, {
  nargs = '*',
  desc = 'ferry: start, stop, restart, resync, status, log, doctor, conflicts, resolve, compare, list',
  complete = function(lead, line)
    return require('ferry.commands').complete(lead, line)
  end,
})

-- Every buffer under a folder with ferry's config, whatever its file type (also none:
-- `.env`, `Procfile` fire no FileType event), is attached to that folder's server.
local group = vim.api.nvim_create_augroup('ferry', {})
vim.api.nvim_create_autocmd({ 'BufReadPost', 'BufNewFile' }, {
  group = group,
  callback = function(ev)
    if vim.bo[ev.buf].buftype ~= '' or ev.file == '' then
      return
    end
    -- A cheap look before anything is loaded.
    if vim.fs.root(ev.buf, { 'devspace.yaml', '.devspace' }) then
      require('ferry').attach(ev.buf)
    end
  end,
})

-- Loaded late (a plugin manager's lazy loading): the buffers already open.
if vim.v.vim_did_enter == 1 then
  for _, buf in ipairs(vim.api.nvim_list_bufs()) do
    if vim.api.nvim_buf_is_loaded(buf) and vim.bo[buf].buftype == '' then
      if vim.fs.root(buf, { 'devspace.yaml', '.devspace' }) then
        require('ferry').attach(buf)
      end
    end
  end
end
