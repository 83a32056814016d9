import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import { generatedPath, generateValidators } from '../support/validators-codegen.js';

it('the compiled validators match schemas/ (run `npm run schemas` after editing a schema)', () => {
  expect(readFileSync(generatedPath, 'utf8')).toBe(generateValidators());
});
