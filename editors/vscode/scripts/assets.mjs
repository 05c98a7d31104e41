#!/usr/bin/env node
// Copies what the extension contributes from the repository into the package: the
// schemas of devspace.yaml and ferry.yaml (docs/*.schema.json, one source of truth) for
// `yamlValidation`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ext = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
for (const name of ['config.schema.json', 'ferry.schema.json']) {
  const from = path.resolve(ext, '../../docs', name);
  const to = path.join(ext, 'schema', name);
  fs.mkdirSync(path.dirname(to), { recursive: true });
  fs.copyFileSync(from, to);
}
