/**
 * openapi.yaml for tests: the document, checked against the OpenAPI 3.1 schema by
 * @seriousme/openapi-schema-validator, and answers checked against it by Ajv's JSON Schema
 * 2020-12 validator (OpenAPI 3.1's schema dialect) with ajv-formats.
 *
 * @seriousme/openapi-schema-validator ships ES modules only, which jest's CommonJS runtime
 * cannot load, so it runs in a child Node process (the project's Node 24, as under jest).
 * What is ours here is only the walk from an answer to the parts of the document that
 * describe it: the status's response, its headers, its media type and schema.
 */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ErrorObject, type SchemaObject, type ValidateFunction } from 'ajv/dist/2020';
import addFormats from 'ajv-formats';
import { parse } from 'yaml';

export const ROOT = join(__dirname, '..', '..');
export const OPENAPI_FILE = join(ROOT, 'openapi.yaml');

interface Reference {
  readonly $ref: string;
}
type Ref<T> = T | Reference;

export type Schema = Record<string, unknown>;

export interface HeaderObject {
  readonly description?: string;
  readonly required?: boolean;
  readonly schema: Schema;
}

export interface ExampleObject {
  readonly summary?: string;
  readonly value: unknown;
}

export interface MediaTypeObject {
  readonly schema: Schema;
  readonly examples?: Readonly<Record<string, Ref<ExampleObject>>>;
}

export interface ResponseObject {
  readonly description: string;
  readonly headers?: Readonly<Record<string, Ref<HeaderObject>>>;
  readonly content?: Readonly<Record<string, MediaTypeObject>>;
}

export interface RequestBodyObject {
  readonly description?: string;
  readonly required?: boolean;
  readonly content: Readonly<Record<string, MediaTypeObject>>;
}

export interface Operation {
  readonly operationId: string;
  readonly summary?: string;
  readonly security?: ReadonlyArray<Readonly<Record<string, readonly string[]>>>;
  readonly requestBody?: Ref<RequestBodyObject>;
  readonly responses: Readonly<Record<string, Ref<ResponseObject>>>;
}

export const HTTP_METHODS = ['get', 'put', 'post', 'delete', 'options', 'head', 'patch', 'trace'] as const;
export type HttpMethod = (typeof HTTP_METHODS)[number];

export type PathItem = Partial<Record<HttpMethod, Operation>> & { readonly servers?: ReadonlyArray<{ url: string }> };

export interface OpenApiDocument {
  readonly openapi: string;
  readonly info: { readonly title: string; readonly version: string; readonly description?: string };
  readonly servers: ReadonlyArray<{ readonly url: string }>;
  readonly paths: Readonly<Record<string, PathItem>>;
  readonly components: {
    readonly schemas: Readonly<Record<string, Schema>>;
    readonly securitySchemes: Readonly<Record<string, Record<string, unknown>>>;
    readonly [section: string]: Readonly<Record<string, unknown>>;
  };
}

export function loadDocument(): OpenApiDocument {
  return parse(readFileSync(OPENAPI_FILE, 'utf8')) as OpenApiDocument;
}

/** The document's own `$ref`s (`#/components/<section>/<name>`), followed to what they name. */
export function deref<T>(doc: OpenApiDocument, value: Ref<T>): T {
  let current: unknown = value;
  for (let hops = 0; hops < 10; hops++) {
    if (typeof current !== 'object' || current === null || !('$ref' in current)) return current as T;
    const ref = (current as Reference).$ref;
    const match = /^#\/components\/([^/]+)\/([^/]+)$/.exec(ref);
    if (!match) throw new Error(`openapi.yaml: unsupported $ref ${ref}`);
    current = doc.components[match[1]]?.[match[2]];
    if (current === undefined) throw new Error(`openapi.yaml: ${ref} names nothing`);
  }
  throw new Error('openapi.yaml: a $ref chain too long');
}

/** What the OpenAPI 3.1 schema validator said of the document, from a child process. */
export interface DocumentVerdict {
  readonly valid: boolean;
  readonly version: string;
  readonly errors?: unknown;
}

const VALIDATE_DOCUMENT = `
import { Validator } from '@seriousme/openapi-schema-validator';
const validator = new Validator();
const result = await validator.validate(process.argv[1]);
process.stdout.write(JSON.stringify({ valid: result.valid, version: validator.version, errors: result.errors }));
`;

export function validateDocument(file = OPENAPI_FILE): DocumentVerdict {
  const output = execFileSync(process.execPath, ['--input-type=module', '-e', VALIDATE_DOCUMENT, file], {
    cwd: ROOT,
    encoding: 'utf8',
  });
  return JSON.parse(output) as DocumentVerdict;
}

/** An HTTP answer as the tests saw it; header names in lower case. */
export interface Answer {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: string;
}

/** Where the document's component schemas live for Ajv, which resolves `$ref`s by URI. */
const SCHEMAS_ID = 'https://token-exchange.invalid/openapi.yaml/components/schemas';

/** Every `#/components/schemas/<name>` as a reference into the schema Ajv knows. */
function rewriteRefs(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(rewriteRefs);
  if (typeof value !== 'object' || value === null) return value;
  return Object.fromEntries(
    Object.entries(value).map(([key, inner]) => {
      if (key === '$ref' && typeof inner === 'string' && inner.startsWith('#/components/schemas/')) {
        return [key, `${SCHEMAS_ID}#/$defs/${inner.slice('#/components/schemas/'.length)}`];
      }
      return [key, rewriteRefs(inner)];
    }),
  );
}

/** The header (0) or payload (1) of a compact JWS, decoded; undefined when it is not one. */
export function jwtPart(token: string, part: 0 | 1): unknown {
  const parts = token.split('.');
  if (parts.length !== 3) return undefined;
  try {
    return JSON.parse(Buffer.from(parts[part], 'base64url').toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

function errorText(errors: readonly ErrorObject[] | null | undefined): string {
  return (errors ?? []).map((e) => `${e.instancePath || '/'} ${e.message ?? e.keyword}`).join('; ');
}

export class OpenApi {
  readonly doc: OpenApiDocument;
  private readonly ajv: Ajv2020;
  private readonly compiled = new Map<Schema, ValidateFunction>();

  constructor(doc: OpenApiDocument = loadDocument()) {
    this.doc = doc;
    // Strict: a misspelt keyword in the document is an error here, not a schema that accepts anything.
    this.ajv = new Ajv2020({ strict: true, allErrors: true });
    addFormats(this.ajv);
    // A token's decoded header and claims, validated like any other value: the extension names
    // the schema of each part of a JWT-valued string.
    for (const [keyword, part] of [
      ['x-jwt-header', 0],
      ['x-jwt-claims', 1],
    ] as const) {
      this.ajv.addKeyword({
        keyword,
        type: 'string',
        schemaType: 'object',
        compile: (schema: SchemaObject) => {
          const validate = this.ajv.compile(schema);
          const check = (data: string): boolean => {
            const valid = validate(jwtPart(data, part));
            check.errors = (validate.errors ?? []).map((e) => ({ ...e, message: `(${keyword}) ${e.message ?? ''}` }));
            return valid;
          };
          check.errors = [] as ErrorObject[];
          return check;
        },
      });
    }
    this.ajv.addSchema({ $id: SCHEMAS_ID, $defs: rewriteRefs(this.doc.components.schemas) as Schema });
  }

  /** The validator of one schema of the document (as written there: `$ref`s to components). */
  validator(schema: Schema): ValidateFunction {
    let validate = this.compiled.get(schema);
    if (validate === undefined) {
      validate = this.ajv.compile(rewriteRefs(schema) as Schema);
      this.compiled.set(schema, validate);
    }
    return validate;
  }

  /** Problems with `value` as an instance of `schema`; [] when it is one. */
  validate(schema: Schema, value: unknown): string[] {
    const validate = this.validator(schema);
    return validate(value) ? [] : [errorText(validate.errors)];
  }

  operation(path: string, method: HttpMethod): Operation {
    const operation = this.doc.paths[path]?.[method];
    if (operation === undefined) throw new Error(`openapi.yaml documents no ${method.toUpperCase()} ${path}`);
    return operation;
  }

  /** The operation that documents a path's answer to the methods it does not serve (its only response a 405). */
  otherMethods(path: string): HttpMethod {
    const found = HTTP_METHODS.filter((method) => {
      const operation = this.doc.paths[path]?.[method];
      return operation !== undefined && Object.keys(operation.responses).join() === '405';
    });
    if (found.length !== 1) throw new Error(`openapi.yaml: ${path} needs one 405-only operation, has ${found.length}`);
    return found[0];
  }

  response(path: string, method: HttpMethod, status: number): ResponseObject | undefined {
    const response = this.operation(path, method).responses[String(status)];
    return response === undefined ? undefined : deref(this.doc, response);
  }

  /**
   * Everything about `answer` that openapi.yaml's `method path` does not describe: an
   * undocumented status, a required header missing or a header off its schema, a body where
   * none is documented (or none where one is), a media type not documented, a body off its
   * schema. [] when the answer is as documented. `requestMethod` is the request's, when
   * `method` documents the 405 of a method the path does not serve.
   */
  check(path: string, method: HttpMethod, answer: Answer, requestMethod: string = method): string[] {
    const where = `${method.toUpperCase()} ${path} → ${answer.status}`;
    const response = this.response(path, method, answer.status);
    if (response === undefined) return [`${where}: status not documented`];
    const problems: string[] = [];
    for (const [name, ref] of Object.entries(response.headers ?? {})) {
      const header = deref(this.doc, ref);
      const value = answer.headers[name.toLowerCase()];
      if (value === undefined) {
        if (header.required) problems.push(`${where}: header ${name} missing`);
        continue;
      }
      // Header values are text; a documented integer is one written in decimal digits.
      const typed = header.schema.type === 'integer' && /^-?\d+$/.test(value) ? Number(value) : value;
      for (const problem of this.validate(header.schema, typed)) problems.push(`${where}: header ${name}: ${problem}`);
    }
    if (answer.body === '') {
      // A HEAD answer never has a body, whatever its GET would carry.
      const head = requestMethod.toLowerCase() === 'head';
      if (response.content !== undefined && !head) problems.push(`${where}: documented a body, got none`);
      return problems;
    }
    if (response.content === undefined) return [...problems, `${where}: documented no body, got one`];
    const mediaType = (answer.headers['content-type'] ?? '').split(';')[0].trim().toLowerCase();
    const content = response.content[mediaType];
    if (content === undefined) return [...problems, `${where}: media type ${mediaType || '(none)'} not documented`];
    let body: unknown;
    try {
      body = JSON.parse(answer.body);
    } catch {
      return [...problems, `${where}: the body is not JSON`];
    }
    for (const problem of this.validate(content.schema, body)) problems.push(`${where}: body: ${problem}`);
    return problems;
  }

  /** Every documented (path, method, status). */
  documentedStatuses(): Array<{ path: string; method: HttpMethod; status: number }> {
    return Object.entries(this.doc.paths).flatMap(([path, item]) =>
      HTTP_METHODS.flatMap((method) =>
        Object.keys(item[method]?.responses ?? {}).map((status) => ({ path, method, status: Number(status) })),
      ),
    );
  }

  /** Every example of a response body, with where it is documented. */
  responseExamples(): Array<{
    path: string;
    method: HttpMethod;
    status: number;
    name: string;
    value: unknown;
    schema: Schema;
  }> {
    return this.documentedStatuses().flatMap(({ path, method, status }) => {
      const response = this.response(path, method, status);
      return Object.values(response?.content ?? {}).flatMap((media) =>
        Object.entries(media.examples ?? {}).map(([name, example]) => ({
          path,
          method,
          status,
          name,
          value: deref(this.doc, example).value,
          schema: media.schema,
        })),
      );
    });
  }

  /** Every example of a request body, with where it is documented. */
  requestExamples(): Array<{ path: string; method: HttpMethod; name: string; value: unknown; schema: Schema }> {
    return Object.entries(this.doc.paths).flatMap(([path, item]) =>
      HTTP_METHODS.flatMap((method) => {
        const body = item[method]?.requestBody;
        if (body === undefined) return [];
        return Object.values(deref(this.doc, body).content).flatMap((media) =>
          Object.entries(media.examples ?? {}).map(([name, example]) => ({
            path,
            method,
            name,
            value: deref(this.doc, example).value,
            schema: media.schema,
          })),
        );
      }),
    );
  }
}
