import js from '@eslint/js';
import globals from 'globals';
import reactHooks from 'eslint-plugin-react-hooks';
import reactRefresh from 'eslint-plugin-react-refresh';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  {
    ignores: [
      'dist',
      'node_modules',
      'test-results',
      'playwright-report',
      '.cache',
      '.scratch',
      'models/**/*.py',
    ],
  },
  {
    extends: [js.configs.recommended, ...tseslint.configs.recommended],
    files: ['**/*.{ts,tsx}'],
    languageOptions: {
      ecmaVersion: 2022,
      globals: { ...globals.browser, ...globals.worker, ...globals.node },
    },
    plugins: { 'react-hooks': reactHooks, 'react-refresh': reactRefresh },
    rules: {
      ...reactHooks.configs.recommended.rules,
      'react-refresh/only-export-components': ['warn', { allowConstantExport: true }],
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_' }],
    },
  },
  // Imports flow one way (docs/architecture.md): core ← shared ← workers / page; core ← node ← cli.
  // The page names a worker's entry only in `new URL(…)` and imports its types with `import type`.
  ...layerRules([
    ['src/core/**', ['shared', 'workers', 'page', 'node', 'cli', 'testing'], ['react', 'node:*']],
    ['src/shared/**', ['workers', 'page', 'node', 'cli', 'testing'], ['react', 'node:*']],
    ['src/workers/**', ['page', 'node', 'cli', 'testing'], ['react', 'node:*']],
    ['src/page/**', ['workers', 'node', 'cli', 'testing'], ['node:*', 'onnxruntime-*']],
    ['src/node/**', ['shared', 'workers', 'page', 'cli'], ['react']],
    ['src/cli/**', ['shared', 'workers', 'page'], ['react']],
  ]),
  {
    // Tests build deliberately malformed data; Playwright fixtures call `use`, which is not React's.
    files: ['**/*.test.ts', 'e2e/**/*.ts'],
    rules: { '@typescript-eslint/no-explicit-any': 'off', 'react-hooks/rules-of-hooks': 'off' },
  },
  {
    files: ['**/*.{js,mjs}'],
    extends: [js.configs.recommended],
    languageOptions: { globals: { ...globals.node, ...globals.browser } },
  },
);

/** One `no-restricted-imports` rule per layer: the folders (under src/) and packages it may not import. */
function layerRules(layers) {
  return layers.map(([files, folders, packages]) => ({
    files: [files],
    ignores: ['**/*.test.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': [
        'error',
        {
          patterns: [
            ...folders.map((f) => ({
              group: [`**/${f}/*`, `../${f}`, `./${f}/*`],
              message: `${files} may not import from src/${f} (see docs/architecture.md, "Layers").`,
              allowTypeImports: f === 'workers',
            })),
            ...packages.map((p) => ({
              group: [p],
              message: `${files} runs where ${p} is not available or not wanted.`,
            })),
          ],
        },
      ],
    },
  }));
}
