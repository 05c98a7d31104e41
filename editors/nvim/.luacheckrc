-- luacheck config for the Neovim plugin (Debian's `lua-check`): `luacheck .`
std = 'luajit'
globals = { 'vim' }
max_line_length = 160
ignore = {
  '212/_.*', -- unused arguments named _…
}
files['test/*.lua'] = { globals = { 'vim', 'T' } }
