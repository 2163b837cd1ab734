// Lint rules: typescript-eslint's recommended set, no `any`, and no unused code.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-constant-condition": ["error", { checkLoops: false }],
    },
  },
  {
    files: ["**/*.test.ts", "test/**/*.ts", "bench/**/*.ts", "src/testing/**/*.ts"],
    rules: {
      // Without a message, a failing assert.ok(value) / assert(value) makes Node re-read and re-parse the
      // test's source to describe the expression; on our TypeScript files that parse can spin for
      // minutes, so a failing test hung until the runner's timeout instead of failing (seen in CI).
      "no-restricted-syntax": [
        "error",
        { selector: "CallExpression[callee.object.name='assert'][callee.property.name='ok'][arguments.length<2]", message: "assert.ok needs a message: without one, a failure can hang the test (Node parses the TypeScript source to describe it)." },
        { selector: "CallExpression[callee.name='assert'][arguments.length<2]", message: "assert() needs a message: without one, a failure can hang the test (Node parses the TypeScript source to describe it)." },
      ],
    },
  },
);
