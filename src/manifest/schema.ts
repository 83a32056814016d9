import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject } from 'ajv';

/** The JSON Schemas in schemas/: the same files editors use through `$schema`. */
export type SchemaName = 'image' | 'state';

let ajv: Ajv | undefined;

/** Validates a value against one of the schemas; each is compiled on first use only. */
export function validateAgainst(schema: SchemaName, value: unknown): readonly ErrorObject[] {
  ajv ??= new Ajv({ allErrors: true, verbose: true }).addSchema([readSchema('image'), readSchema('state')]);
  const validate = ajv.getSchema(`https://imsync.dev/schemas/${schema}.schema.json`)!;
  return validate(value) ? [] : (validate.errors ?? []);
}

export function readSchema(schema: SchemaName): object {
  return JSON.parse(readFileSync(new URL(`../../schemas/${schema}.schema.json`, import.meta.url), 'utf8')) as object;
}
