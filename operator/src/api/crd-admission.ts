/**
 * Replays, without a cluster, the checks kube-apiserver runs on a CRD itself when it is created
 * (k8s.io/apiextensions-apiserver), for fast tests (@bufbuild/cel is a development dependency):
 *
 * - pkg/apiserver/schema/defaulting/validation.go `validate`: every schema node with a `default`
 *   has that default checked against the node's OpenAPI schema and, when that passes, against the
 *   x-kubernetes-validations of the node and of its descendants (cel.NewValidator(node)). Ancestors'
 *   rules do not run; the default is taken as written — the defaults of its own fields are NOT
 *   filled in first; `oldSelf` is the default itself.
 * - pkg/apiserver/schema/cel/validation.go: a rule is only run on a value that is present
 *   (descendants absent from the default are skipped); a runtime error is reported as
 *   `<path>: Invalid value: "<type>": <error> evaluating rule: <message or rule>`, integers are
 *   CEL ints, `number` fields doubles, objects maps where an absent field is "no such key".
 * - pkg/apis/apiextensions/validation/validation.go: the estimated cost of each rule
 *   (× the most times it can run, from maxItems of enclosing lists) must stay under
 *   StaticEstimatedCostLimit (10,000,000) and their sum under StaticEstimatedCRDCostLimit
 *   (100,000,000). The estimate sizes strings by maxLength and lists by maxItems, so here every
 *   string and list a rule reads must declare them; the real API server test
 *   (test/envtest/crd.test.ts) is the definitive check of the limits themselves.
 */
import { isCelError, parse, run } from '@bufbuild/cel';
import { Ajv } from 'ajv';

export type Schema = Record<string, unknown>;
interface Rule {
  rule: string;
  message?: string;
  fieldPath?: string;
  reason?: string;
}

const isSchema = (v: unknown): v is Schema => v !== null && typeof v === 'object' && !Array.isArray(v);
const rulesOf = (s: Schema): Rule[] => (s['x-kubernetes-validations'] as Rule[] | undefined) ?? [];
const propsOf = (s: Schema): Record<string, Schema> => (isSchema(s.properties) ? (s.properties as Record<string, Schema>) : {});

/** A JSON value as the API server hands it to CEL (UnstructuredToVal): by the schema's type. */
function toCel(v: unknown, s: Schema | undefined): unknown {
  if (v === null || v === undefined) return v;
  if (Array.isArray(v)) return v.map((x) => toCel(x, isSchema(s?.items) ? s.items : undefined));
  if (typeof v === 'number') return s?.type === 'number' || !Number.isInteger(v) ? v : BigInt(v);
  if (typeof v === 'object') {
    const props = s === undefined ? {} : propsOf(s);
    const extra = isSchema(s?.additionalProperties) ? s.additionalProperties : undefined;
    return new Map(Object.entries(v).map(([k, x]) => [k, toCel(x, props[k] ?? extra)]));
  }
  return v;
}

/** cel-go's wording of a missing field is "no such key: <name>"; @bufbuild/cel says "field not found". */
function celGoMessage(message: string): string {
  return message.replace(/^field not found: /, 'no such key: ');
}

const ruleErrorString = (r: Rule): string => (r.message !== undefined && r.message.trim() !== '' ? r.message.trim() : r.rule.trim());

/** cel.Validator.validate: the rules of `s` on `value`, then of the fields present in `value`. */
function celValidate(s: Schema, value: unknown, path: string, out: string[]): void {
  if (value === null || value === undefined) return;
  const type = typeof s.type === 'string' ? s.type : '';
  for (const r of rulesOf(s)) {
    const self = toCel(value, s);
    const result = run(r.rule, { self, oldSelf: self } as never);
    if (isCelError(result)) {
      out.push(`${path}: Invalid value: "${type}": ${celGoMessage(result.message)} evaluating rule: ${ruleErrorString(r)}`);
    } else if (result !== true) {
      // fieldErrorForReason: objects and lists are shown by their type, scalars by their value.
      const at = r.fieldPath === undefined ? path : path + r.fieldPath;
      const detail = r.message?.trim() ?? `failed rule: ${r.rule.trim()}`;
      const shown = type === 'object' || type === 'array' ? `"${type}"` : JSON.stringify(value);
      if (r.reason === 'FieldValueRequired') out.push(`${at}: Required value: ${detail}`);
      else if (r.reason === 'FieldValueForbidden') out.push(`${at}: Forbidden: ${detail}`);
      else if (r.reason === 'FieldValueDuplicate') out.push(`${at}: Duplicate value: ${shown}`);
      else out.push(`${at}: Invalid value: ${shown}: ${detail}`);
    }
  }
  if (Array.isArray(value)) {
    if (isSchema(s.items)) value.forEach((x, i) => celValidate(s.items as Schema, x, `${path}[${i}]`, out));
  } else if (typeof value === 'object') {
    const props = propsOf(s);
    for (const [k, x] of Object.entries(value)) {
      const sub = props[k] ?? (isSchema(s.additionalProperties) ? s.additionalProperties : undefined);
      if (sub !== undefined) celValidate(sub, x, props[k] === undefined ? `${path}[${k}]` : `${path}.${k}`, out);
    }
  }
}

/** defaulting.validate: every default against its node's schema, then its node's CEL rules. */
export function defaultProblems(root: Schema): string[] {
  const ajv = new Ajv({ strict: false, validateFormats: false, allErrors: true, logger: false });
  const out: string[] = [];
  const walk = (s: Schema, path: string): void => {
    if (s.default !== undefined) {
      const at = `${path}.default`;
      const check = ajv.compile(s);
      if (!check(structuredClone(s.default))) {
        for (const e of check.errors ?? []) out.push(`${at}${e.instancePath.replaceAll('/', '.')}: ${e.message ?? e.keyword}`);
      } else {
        celValidate(s, s.default, at, out);
      }
    }
    // Defaults are not allowed under additionalProperties; the API server does not look there.
    if (isSchema(s.items)) walk(s.items, `${path}.items`);
    for (const [k, sub] of Object.entries(propsOf(s))) walk(sub, `${path}.properties[${k}]`);
  };
  walk(root, 'openAPIV3Schema');
  return out;
}

interface CelExpr {
  id: bigint;
  exprKind:
    | { case: 'identExpr'; value: { name: string } }
    | { case: 'selectExpr'; value: { operand?: CelExpr; field: string } }
    | { case: 'callExpr'; value: { target?: CelExpr; args: CelExpr[] } }
    | { case: 'listExpr'; value: { elements: CelExpr[] } }
    | { case: 'comprehensionExpr'; value: { iterVar: string; iterRange?: CelExpr; accuInit?: CelExpr; loopCondition?: CelExpr; loopStep?: CelExpr; result?: CelExpr } }
    | { case: string | undefined; value?: unknown };
}

/** The API server's own ObjectMeta fields at a resource root (model.WithTypeAndObjectMeta). */
const OBJECT_META: Schema = { type: 'object', properties: { name: { type: 'string', 'x-object-meta': true }, generateName: { type: 'string', 'x-object-meta': true } } };

/**
 * Strings and lists a rule reads that have no maxLength/maxItems (the cost estimate then assumes
 * the request size, 3 MiB), fields a rule names that the schema lacks, and nodes with rules inside
 * a list without maxItems (unbounded number of runs).
 */
export function costBoundProblems(root: Schema): string[] {
  const out: string[] = [];
  const visit = (s: Schema, path: string, isRoot: boolean, unboundedAncestor: string | undefined): void => {
    for (const r of rulesOf(s)) {
      const where = `${path || '.'}: rule "${r.rule}"`;
      if (unboundedAncestor !== undefined) out.push(`${where} runs once per item of ${unboundedAncestor}, which has no maxItems`);
      const readFields = new Map<Schema, string>();
      const resolve = (e: CelExpr | undefined, scope: Map<string, [Schema, string]>): [Schema, string] | undefined => {
        if (e === undefined) return undefined;
        const k = e.exprKind;
        switch (k.case) {
          case 'identExpr': {
            const hit = scope.get((k.value as { name: string }).name);
            if (hit !== undefined) readFields.set(hit[0], hit[1]);
            return hit;
          }
          case 'selectExpr': {
            const v = k.value as { operand?: CelExpr; field: string };
            const base = resolve(v.operand, scope);
            if (base === undefined) return undefined;
            const [bs, bp] = base;
            const child = isRoot && bs === s && v.field === 'metadata' ? OBJECT_META : propsOf(bs)[v.field];
            if (child === undefined) {
              out.push(`${where} reads ${bp}.${v.field}, which the schema does not have`);
              return undefined;
            }
            readFields.set(child, `${bp}.${v.field}`);
            return [child, `${bp}.${v.field}`];
          }
          case 'callExpr': {
            const v = k.value as { target?: CelExpr; args: CelExpr[] };
            resolve(v.target, scope);
            for (const a of v.args) resolve(a, scope);
            return undefined;
          }
          case 'listExpr':
            for (const x of (k.value as { elements: CelExpr[] }).elements) resolve(x, scope);
            return undefined;
          case 'comprehensionExpr': {
            const v = k.value as { iterVar: string; iterRange?: CelExpr; accuInit?: CelExpr; loopCondition?: CelExpr; loopStep?: CelExpr; result?: CelExpr };
            const range = resolve(v.iterRange, scope);
            const inner = new Map(scope);
            inner.delete(v.iterVar);
            if (range !== undefined) {
              const [rs, rp] = range;
              if (rs.type === 'array' && isSchema(rs.items)) inner.set(v.iterVar, [rs.items, `${rp}[]`]);
              if (rs.type === 'object' && rs.maxProperties === undefined) out.push(`${where} iterates ${rp}, which has no maxProperties`);
            }
            for (const x of [v.accuInit, v.loopCondition, v.loopStep, v.result]) resolve(x, inner);
            return undefined;
          }
          default:
            return undefined;
        }
      };
      resolve(parse(r.rule).expr as unknown as CelExpr, new Map([['self', [s, 'self']], ['oldSelf', [s, 'oldSelf']]]));
      for (const [node, p] of readFields) {
        if (node.type === 'string' && node.maxLength === undefined && node['x-object-meta'] !== true) out.push(`${where} reads string ${p}, which has no maxLength`);
        if (node.type === 'array' && node.maxItems === undefined) out.push(`${where} reads list ${p}, which has no maxItems`);
      }
    }
    const props = propsOf(s);
    for (const [k, sub] of Object.entries(props)) visit(sub, `${path}.${k}`, false, unboundedAncestor);
    if (isSchema(s.items)) visit(s.items, `${path}[]`, false, unboundedAncestor ?? (s.maxItems === undefined ? path : undefined));
    if (isSchema(s.additionalProperties)) visit(s.additionalProperties, `${path}.*`, false, unboundedAncestor ?? (s.maxProperties === undefined ? path : undefined));
  };
  visit(root, '', true, undefined);
  return out;
}
