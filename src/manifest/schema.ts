import type { ErrorObject, ValidateFunction } from 'ajv';
import { image, plan, state } from './validators.generated.js';

/** The JSON Schemas in schemas/ (the same files editors use through `$schema`), compiled ahead of time. */
export type SchemaName = 'image' | 'state' | 'plan';

const validators = { image, state, plan } as Record<SchemaName, ValidateFunction>;

export function validateAgainst(schema: SchemaName, value: unknown): readonly ErrorObject[] {
  const validate = validators[schema];
  return validate(value) ? [] : (validate.errors ?? []);
}
