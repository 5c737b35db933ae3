/**
 * Checking a real answer of the HTTP API against the OpenAPI document the server serves: the schema the document
 * gives for that path, method, status and content type, validated with Ajv (JSON Schema 2020-12, OpenAPI 3.1's
 * dialect), its `$ref`s resolved within the document.
 */
import { Ajv2020 } from 'ajv/dist/2020.js';

/** A validator of answers against `document`. */
export function openApiChecker(document: Record<string, unknown>) {
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  ajv.addSchema({ ...document, $id: 'openapi' });
  const paths = document.paths as Record<string, Record<string, { responses: Record<string, unknown> }>>;
  return {
    /**
     * The problems of `body` as the answer `status` of `method` `path` (a template: `/api/batches/{id}`); [] when it
     * conforms. @throws Error when the document describes no such answer.
     */
    problems(
      method: string,
      path: string,
      status: number,
      body: unknown,
      contentType = 'application/json',
    ): string[] {
      const response = paths[path]?.[method]?.responses[String(status)] as
        { content?: Record<string, { schema: unknown }> } | undefined;
      if (response?.content?.[contentType] === undefined)
        throw new Error(
          `the document has no ${contentType} answer ${status} for ${method.toUpperCase()} ${path}`,
        );
      const pointer = `openapi#/paths/${path.replaceAll('~', '~0').replaceAll('/', '~1')}/${method}/responses/${status}/content/${contentType.replaceAll('/', '~1')}/schema`;
      const validate = ajv.getSchema(pointer);
      if (validate === undefined) throw new Error(`cannot compile ${pointer}`);
      return validate(body)
        ? []
        : (validate.errors ?? []).map(
            (error: { instancePath: string; message?: string }) => `${error.instancePath} ${error.message}`,
          );
    },
  };
}
