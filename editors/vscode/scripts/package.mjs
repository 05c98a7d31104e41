#!/usr/bin/env node
// Packs the extension into ferry.vsix with @vscode/vsce.
//
//   npm run package                     # no server inside: ferry.server.path or PATH serve
//   npm run package -- PATH/TO/ferry    # bundles that binary as server/ferry (linux-x64)
//
// A bundled binary is stripped of debug info first (a debug build shrinks from hundreds of
// MB to tens) unless --no-strip is given. The only platform built here is linux-x64, so a
// bundled package is marked `--target linux-x64`; elsewhere the setting or PATH serve.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ext = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const args = process.argv.slice(2);
const noStrip = args.includes('--no-strip');
const binary = args.find((a) => !a.startsWith('--'));
const serverDir = path.join(ext, 'server');
const out = path.join(ext, 'ferry.vsix');

fs.rmSync(serverDir, { recursive: true, force: true });
const vsce = ['vsce', 'package', '--allow-missing-repository', '--skip-license', '--no-rewrite-relative-links', '--out', out];
try {
  if (binary) {
    const src = path.resolve(process.cwd(), binary);
    if (!fs.statSync(src, { throwIfNoEntry: false })?.isFile()) {
      console.error(`package: no ferry binary at ${src}`);
      process.exit(2);
    }
    fs.mkdirSync(serverDir);
    const dst = path.join(serverDir, 'ferry');
    fs.copyFileSync(src, dst);
    if (!noStrip) {
      try {
        execFileSync('strip', ['--strip-debug', dst], { stdio: 'inherit' });
      } catch {
        console.error('package: `strip` failed or is missing; bundling the binary as it is');
      }
    }
    fs.chmodSync(dst, 0o755);
    const mb = (fs.statSync(dst).size / 1e6).toFixed(1);
    console.error(`package: bundling ${src} as server/ferry (${mb} MB)`);
    vsce.push('--target', 'linux-x64');
  }
  execFileSync('npx', vsce, { cwd: ext, stdio: 'inherit' });
} finally {
  fs.rmSync(serverDir, { recursive: true, force: true });
}
