/**
 * Lint: the safety nets the compiler does not give (issue 24). Only rules that catch bugs are on,
 * not style: a promise nobody awaits or handles (`no-floating-promises`: a rejection becomes an
 * unhandled one and the work may not finish before the caller goes on), a promise passed where a
 * plain value or a void callback is expected (`no-misused-promises`: `if (asyncFn())` is always
 * true; an async listener's rejection is lost), and import cycles (`import-x/no-cycle`: the
 * layering in ../shared/STYLE.md, domains → store, never back).
 *
 * Type information comes from the project service (one TypeScript program per tsconfig, shared by
 * every file) rather than `parserOptions.project`, which is what keeps a full run near the time of
 * `tsc --noEmit` (measured in docs/decisions.md, "Issue 24: limits and safety nets").
 */
import tseslint from 'typescript-eslint';
import { createNodeResolver, importX } from 'eslint-plugin-import-x';

export default tseslint.config(
  { ignores: ['dist/**', 'web/dist/**', 'node_modules/**', 'bench/out/**', '**/*.js', '**/*.mjs'] },
  {
    files: ['**/*.ts'],
    languageOptions: {
      parser: tseslint.parser,
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { '@typescript-eslint': tseslint.plugin, 'import-x': importX },
    settings: {
      // Dependencies are parsed to follow their imports (no-cycle): TypeScript files with the TypeScript parser.
      'import-x/extensions': ['.ts', '.js', '.mjs'],
      'import-x/parsers': { '@typescript-eslint/parser': ['.ts'] },
      // Sources import `./x.js` for `./x.ts` (NodeNext): resolve it the way TypeScript does.
      'import-x/resolver-next': [createNodeResolver({ extensions: ['.ts', '.js', '.mjs'], extensionAlias: { '.js': ['.ts', '.js'] } })],
    },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/no-misused-promises': 'error',
      // Type-only imports are erased at run time, so they cannot make a load-order cycle.
      'import-x/no-cycle': ['error', { ignoreExternal: true, allowUnsafeDynamicCyclicDependency: false }],
    },
  },
);
