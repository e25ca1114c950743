/**
 * Checks a CRD's openAPIV3Schema against the Kubernetes structural-schema rules, and that a
 * printer column's JSONPath names a field of the schema. The API server rejects a v1 CRD whose
 * schema is not structural; this finds it without a cluster.
 * Rules: https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema
 * Keywords: apiextensions.k8s.io/v1 JSONSchemaProps.
 */

type Node = Record<string, unknown>;

const ALLOWED_KEYWORDS = new Set([
  'description', 'type', 'format', 'title', 'default', 'maximum', 'exclusiveMaximum', 'minimum', 'exclusiveMinimum',
  'maxLength', 'minLength', 'pattern', 'maxItems', 'minItems', 'uniqueItems', 'multipleOf', 'enum', 'maxProperties',
  'minProperties', 'required', 'items', 'allOf', 'oneOf', 'anyOf', 'not', 'properties', 'additionalProperties',
  'externalDocs', 'example', 'nullable', 'x-kubernetes-preserve-unknown-fields', 'x-kubernetes-embedded-resource',
  'x-kubernetes-int-or-string', 'x-kubernetes-list-map-keys', 'x-kubernetes-list-type', 'x-kubernetes-map-type',
  'x-kubernetes-validations',
]);
const TYPES = new Set(['object', 'array', 'string', 'integer', 'number', 'boolean']);
const JUNCTORS = ['allOf', 'anyOf', 'oneOf', 'not'] as const;
/** Rule 3: forbidden inside a junctor (except the int-or-string pattern). */
const FORBIDDEN_IN_JUNCTOR = ['description', 'type', 'default', 'additionalProperties', 'nullable'];

const isNode = (v: unknown): v is Node => v !== null && typeof v === 'object' && !Array.isArray(v);

function isIntOrStringPattern(node: Node): boolean {
  const any = node.anyOf;
  if (node['x-kubernetes-int-or-string'] !== true || !Array.isArray(any) || any.length !== 2) return false;
  const types = any.map((b) => (isNode(b) ? b.type : undefined));
  return types.includes('integer') && types.includes('string') && any.every((b) => isNode(b) && Object.keys(b).length === 1);
}

/** Returns every violation as `<path>: <problem>`; empty when the schema is structural. */
export function structuralProblems(root: unknown): string[] {
  const problems: string[] = [];
  const check = (node: unknown, path: string, specified: boolean, inJunctor: boolean): void => {
    if (!isNode(node)) {
      problems.push(`${path}: schema must be an object`);
      return;
    }
    for (const key of Object.keys(node)) if (!ALLOWED_KEYWORDS.has(key)) problems.push(`${path}: keyword ${key} is not allowed`);
    const intOrString = node['x-kubernetes-int-or-string'] === true;
    const preserve = node['x-kubernetes-preserve-unknown-fields'] === true;
    if (inJunctor) {
      for (const key of FORBIDDEN_IN_JUNCTOR) if (key in node) problems.push(`${path}: ${key} is not allowed inside allOf/anyOf/oneOf/not`);
    } else if (specified && !intOrString && !preserve) {
      if (typeof node.type !== 'string' || node.type === '') problems.push(`${path}: type is required`);
    }
    if (node.type !== undefined && (typeof node.type !== 'string' || !TYPES.has(node.type))) problems.push(`${path}: unknown type ${String(node.type)}`);
    if (node.properties !== undefined && isNode(node.additionalProperties)) problems.push(`${path}: properties and additionalProperties are mutually exclusive`);
    if (node.additionalProperties === false) problems.push(`${path}: additionalProperties: false is not allowed`);
    if (node.type === 'array' && !isNode(node.items)) problems.push(`${path}: an array needs items (one schema)`);
    if (node.items !== undefined && node.type !== 'array' && !inJunctor) problems.push(`${path}: items on a non-array`);
    if (node.properties !== undefined && node.type !== 'object' && !inJunctor && !preserve) problems.push(`${path}: properties on a non-object`);
    if (intOrString && node.anyOf !== undefined && !isIntOrStringPattern(node)) problems.push(`${path}: x-kubernetes-int-or-string allows only anyOf [integer, string]`);
    if (Array.isArray(node.required)) {
      const props = isNode(node.properties) ? node.properties : {};
      for (const r of node.required) if (typeof r !== 'string' || !(r in props)) problems.push(`${path}: required ${String(r)} is not a property`);
    }
    const listType = node['x-kubernetes-list-type'];
    if (listType === 'map') {
      const keys = node['x-kubernetes-list-map-keys'];
      const item = isNode(node.items) ? node.items : {};
      const itemProps = isNode(item.properties) ? item.properties : {};
      const itemRequired = Array.isArray(item.required) ? item.required : [];
      if (!Array.isArray(keys) || keys.length === 0) problems.push(`${path}: list-type map needs x-kubernetes-list-map-keys`);
      else for (const k of keys) {
        const prop = itemProps[k as string];
        if (!isNode(prop)) problems.push(`${path}: list map key ${String(k)} is not an item property`);
        else if (!itemRequired.includes(k) && prop.default === undefined) problems.push(`${path}: list map key ${String(k)} must be required or defaulted`);
      }
    }
    if (isNode(node.properties)) {
      for (const [name, child] of Object.entries(node.properties)) {
        const childPath = `${path}.${name}`;
        if (path === '' && name === 'metadata' && isNode(child)) {
          // Rule 4: only name/generateName may be restricted in metadata.
          const props = isNode(child.properties) ? Object.keys(child.properties) : [];
          if (props.some((p) => p !== 'name' && p !== 'generateName')) problems.push(`.metadata: only name and generateName may be specified`);
        }
        check(child, childPath, !inJunctor, inJunctor);
      }
    }
    if (isNode(node.additionalProperties)) check(node.additionalProperties, `${path}.*`, !inJunctor, inJunctor);
    if (node.items !== undefined) check(node.items, `${path}[]`, !inJunctor, inJunctor);
    for (const j of JUNCTORS) {
      const branches = j === 'not' ? (node.not === undefined ? [] : [node.not]) : ((node[j] as unknown[] | undefined) ?? []);
      branches.forEach((b, i) => {
        if (intOrString && j === 'anyOf') return;
        check(b, `${path}(${j}${j === 'not' ? '' : `[${i}]`})`, false, true);
        // Rule 2: a field named inside a junctor must also be specified outside it.
        if (isNode(b) && isNode(b.properties)) {
          const outside = isNode(node.properties) ? node.properties : {};
          for (const p of Object.keys(b.properties)) if (!(p in outside)) problems.push(`${path}: ${j} names field ${p} not specified outside it`);
        }
      });
    }
  };
  check(root, '', true, false);
  return problems;
}

/** Fields documented with a description: returns the paths of those without one (kubectl explain). */
export function undocumentedFields(root: unknown): string[] {
  const out: string[] = [];
  const walk = (node: unknown, path: string): void => {
    if (!isNode(node)) return;
    if (path !== '' && path !== '.metadata' && (typeof node.description !== 'string' || node.description === '')) out.push(path);
    if (isNode(node.properties)) for (const [k, v] of Object.entries(node.properties)) walk(v, `${path}.${k}`);
    if (isNode(node.items)) walk(node.items, `${path}[]`);
    if (isNode(node.additionalProperties)) walk(node.additionalProperties, `${path}.*`);
  };
  walk(root, '');
  return out;
}

/**
 * Resolves a printer-column JSONPath (the kubectl subset: .a.b, [?(@.k=="v")], [n], [*]) against
 * the schema; returns the leaf schema, or undefined when a step names no field. metadata's
 * fields come from ObjectMeta, which a CRD schema does not spell out.
 */
export function resolveJsonPath(root: unknown, jsonPath: string): Node | undefined {
  const steps = jsonPath.match(/\.[A-Za-z0-9_-]+|\[[^\]]*\]/g) ?? [];
  if (steps.join('') !== jsonPath) return undefined;
  let node: unknown = root;
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as string;
    if (!isNode(node)) return undefined;
    if (step.startsWith('.')) {
      const name = step.slice(1);
      if (i === 0 && name === 'metadata') return steps.length === 2 && ['.creationTimestamp', '.name', '.namespace', '.generation'].includes(steps[1] as string) ? { type: 'string' } : undefined;
      const props = isNode(node.properties) ? node.properties : undefined;
      node = props?.[name];
    } else {
      if (node.type !== 'array') return undefined;
      const filter = /^\[\?\(@\.([A-Za-z0-9_-]+)\s*==\s*"[^"]*"\)\]$/.exec(step);
      if (filter !== null) {
        const item = node.items;
        if (!isNode(item) || !isNode(item.properties) || !(filter[1] as string in item.properties)) return undefined;
      } else if (!/^\[(\d+|\*)\]$/.test(step)) return undefined;
      node = node.items;
    }
  }
  return isNode(node) ? node : undefined;
}
