// @ts-check
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/', 'out/', 'node_modules/', 'schema/', 'server/'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ['test/e2e/**/*.mjs', 'scripts/**/*.mjs'],
    languageOptions: { globals: { console: 'readonly', process: 'readonly', setInterval: 'readonly', clearInterval: 'readonly' } },
  },
);
