#!/usr/bin/env node
// Copies what the extension contributes from the repository into the package: the config
// schema (docs/config.schema.json, one source of truth) for `yamlValidation`.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ext = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const from = path.resolve(ext, '../../docs/config.schema.json');
const to = path.join(ext, 'schema/config.schema.json');
fs.mkdirSync(path.dirname(to), { recursive: true });
fs.copyFileSync(from, to);
