/**
 * Validation rules of fastify for the request bodies, queries and parameters of every API route.
 *
 * Fastify's default Ajv settings drop properties a schema does not list, so a misspelt field
 * (`reuseable` for `reusable`) would be ignored without a word. The API rejects such requests
 * instead, with a message that names the field.
 */
import type { FastifyServerOptions } from 'fastify';

interface SchemaError {
  keyword: string;
  instancePath: string;
  params: Record<string, unknown>;
  message?: string | undefined;
}

/** Builds the error of a failed validation; `dataVar` is `body`, `querystring`, `params` or `headers`. */
export function formatSchemaErrors(errors: ReadonlyArray<SchemaError>, dataVar: string): Error {
  const message = errors
    .map((error) => {
      const where = `${dataVar}${error.instancePath}`;
      if (error.keyword === 'additionalProperties') return `${where} has unknown field ${JSON.stringify(error.params.additionalProperty)}`;
      return `${where} ${error.message ?? 'is invalid'}`;
    })
    .join(', ');
  return new Error(message);
}

/** The fastify options that apply these rules. */
export const strictValidation = {
  ajv: { customOptions: { removeAdditional: false } },
  schemaErrorFormatter: formatSchemaErrors,
} satisfies Partial<FastifyServerOptions>;
