// Type-aware lint for src/, test/, bench/ and examples/; formatting is prettier's (eslint-config-prettier).
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

const nodeTestCalls = ['test', 'it', 'describe', 'suite', 'before', 'after', 'beforeEach', 'afterEach'];

export default tseslint.config(
  { ignores: ['dist/', 'out/', 'build/', '.asan/', 'node_modules/', 'prebuilds/', '*.mjs', '*.js', 'vendor/', 'scripts/'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      '@typescript-eslint/no-floating-promises': [
        'error',
        // node:test's test() returns a promise the runner itself awaits.
        { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: nodeTestCalls }] },
      ],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      // The addon is loaded with require() on purpose: its path is only known at run time.
      '@typescript-eslint/no-require-imports': 'off',
      // Paho's records and terminal output are matched byte by byte, control characters included.
      'no-control-regex': 'off',
    },
  },
  {
    files: ['test/**/*.ts'],
    // Stores and fixtures implement promise-returning interfaces with synchronous bodies.
    rules: { '@typescript-eslint/require-await': 'off' },
  },
  prettier,
);
