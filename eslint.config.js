// ESLint flat config: typescript-eslint's strict, type-checked rules over every package's
// TypeScript sources and tests; prettier owns formatting (eslint-config-prettier turns off
// the stylistic rules that would fight it). Rule choices are explained in
// docs/design/0003-lint-and-format.md.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';
import prettier from 'eslint-config-prettier';

export default tseslint.config(
  {
    ignores: ['**/dist/**', '**/node_modules/**', 'coverage/**', '**/*.mjs', '**/*.cjs', '**/*.js'],
  },
  js.configs.recommended,
  ...tseslint.configs.strictTypeChecked,
  {
    languageOptions: {
      parserOptions: {
        projectService: true,
        tsconfigRootDir: import.meta.dirname,
      },
    },
    rules: {
      // Numbers and booleans print unambiguously in messages and log lines.
      '@typescript-eslint/restrict-template-expressions': ['error', { allowNumber: true, allowBoolean: true }],
      // Stylistic rules about `void` that fight each other and our callback idioms
      // (`return reject(err)`, `async () => void (await x)`, tapable's `void | Promise<void>`).
      '@typescript-eslint/no-confusing-void-expression': 'off',
      '@typescript-eslint/no-meaningless-void-operator': 'off',
      '@typescript-eslint/no-invalid-void-type': 'off',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_', caughtErrors: 'none' }],
      // Values from third-party plugins and JSON are checked at run time whatever their
      // declared types say: see docs/design/0003-lint-and-format.md.
      '@typescript-eslint/no-unnecessary-condition': 'off',
    },
  },
  {
    // Database drivers return integers as numbers (SQLite) or strings (PostgreSQL int8), and
    // JSON columns as text: the store normalises both whatever the row types say.
    files: ['core/control/src/store/**/*.ts'],
    rules: {
      '@typescript-eslint/no-unnecessary-type-conversion': 'off',
      '@typescript-eslint/no-unnecessary-type-parameters': 'off',
    },
  },
  {
    // The kit's test bodies read a value right after a step asserted it exists, like tests do.
    files: ['conformance-kit/src/suites/**/tests/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
    },
  },
  {
    // Tests may assert that a value exists with `!` after checking it with chai; mocha's
    // async callbacks need no await; tests poke at untyped JSON replies on purpose.
    files: ['**/test/**/*.ts'],
    rules: {
      '@typescript-eslint/no-non-null-assertion': 'off',
      '@typescript-eslint/require-await': 'off',
      '@typescript-eslint/no-unsafe-member-access': 'off',
      '@typescript-eslint/no-unsafe-assignment': 'off',
      '@typescript-eslint/no-unsafe-argument': 'off',
      '@typescript-eslint/unbound-method': 'off',
    },
  },
  prettier,
);
