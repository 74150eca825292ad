// ESLint: rules that catch bugs, not a style. The recommended sets of ESLint and
// typescript-eslint, plus the type-aware promise rules on TypeScript (a promise
// nobody awaits or handles, an async function where a callback's return is
// ignored, awaiting what is not a promise). No formatting rules.
import js from '@eslint/js'
import globals from 'globals'
import tseslint from 'typescript-eslint'

export default tseslint.config(
  {
    ignores: ['**/dist/', 'bench/results/', 'bench/legacy/node_modules/', 'examples/browser/dist/']
  },
  js.configs.recommended,
  tseslint.configs.recommended,
  {
    languageOptions: { globals: globals.node },
    linterOptions: { reportUnusedDisableDirectives: 'error' },
    rules: {
      // tests and wire code handle untyped payloads on purpose; `any` there is a choice, not a bug
      '@typescript-eslint/no-explicit-any': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrorsIgnorePattern: '^_', ignoreRestSiblings: true }]
    }
  },
  {
    files: ['**/*.cjs'],
    languageOptions: { sourceType: 'commonjs' },
    rules: { '@typescript-eslint/no-require-imports': 'off' }
  },
  {
    files: ['examples/browser/*.js'],
    languageOptions: { globals: globals.browser }
  },
  {
    // playwright runs the functions it is handed inside the page
    files: ['scripts/browser-screenshots.mjs'],
    languageOptions: { globals: { document: 'readonly', window: 'readonly' } }
  },
  {
    files: ['**/*.ts'],
    ignores: ['test/packaging/consumer/**'],
    languageOptions: { parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname } },
    rules: {
      // node:test's describe() and it() return promises the runner itself awaits
      '@typescript-eslint/no-floating-promises': ['error', { allowForKnownSafeCalls: [{ from: 'package', package: 'node:test', name: ['describe', 'it', 'suite', 'test'] }] }],
      '@typescript-eslint/no-misused-promises': 'error',
      '@typescript-eslint/await-thenable': 'error',
      '@typescript-eslint/only-throw-error': 'error',
      '@typescript-eslint/no-for-in-array': 'error',
      '@typescript-eslint/require-array-sort-compare': ['error', { ignoreStringArrays: true }],
      '@typescript-eslint/switch-exhaustiveness-check': ['error', { considerDefaultExhaustiveForUnions: true }]
    }
  }
)
