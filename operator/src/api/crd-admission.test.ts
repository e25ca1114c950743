import { describe, expect, it } from 'vitest';
import { costBoundProblems, defaultProblems, type Schema } from './crd-admission.ts';
import { auditPolicySchema } from './crd.ts';

const isSchema = (v: unknown): v is Schema => v !== null && typeof v === 'object' && !Array.isArray(v);
const propsOf = (s: Schema): Record<string, Schema> => (isSchema(s.properties) ? (s.properties as Record<string, Schema>) : {});

function withPortsRule(rule: string): Schema {
  const schema = structuredClone(auditPolicySchema());
  const ports = propsOf(propsOf(propsOf(schema).spec as Schema).sidecar as Schema).ports as Schema;
  ports['x-kubernetes-validations'] = [{ rule, message: 'proxy and admin ports must differ' }];
  return schema;
}

describe('AuditPolicy CRD as kube-apiserver checks it at creation', () => {
  it('every default passes its schema and the CEL rules of its node and descendants', () => {
    expect(defaultProblems(auditPolicySchema())).toEqual([]);
  });

  it('refuses the sidecar.ports rule that read absent fields, with the API server message', () => {
    // sidecar.ports once carried `self.proxy != self.admin` with default {}: every API server refused the CRD.
    expect(defaultProblems(withPortsRule('self.proxy != self.admin'))).toEqual([
      'openAPIV3Schema.properties[spec].properties[sidecar].properties[ports].default: Invalid value: "object": no such key: proxy evaluating rule: proxy and admin ports must differ',
    ]);
  });

  it('reports a rule that is false on a default, and a default its own schema refuses', () => {
    const schema = withPortsRule('has(self.proxy)');
    const storage = propsOf(propsOf(schema).spec as Schema).storage as Schema;
    storage.default = { create: { accessModes: [] } };
    expect(defaultProblems(schema).sort()).toEqual([
      'openAPIV3Schema.properties[spec].properties[sidecar].properties[ports].default: Invalid value: "object": proxy and admin ports must differ',
      'openAPIV3Schema.properties[spec].properties[storage].default.create.accessModes: must NOT have fewer than 1 items',
    ]);
  });

  it('runs no rule above the node with the default, and none on fields the default leaves out', () => {
    // sidecar's default {} has no ports: the ports rule (which fails on {}) runs only for ports' own default.
    expect(defaultProblems(withPortsRule('self.proxy != self.admin'))).toHaveLength(1);
    // A rule on sidecar that fails on anything without ports: not run for ports' default.
    const schema = withPortsRule('true');
    const sidecar = propsOf(propsOf(schema).spec as Schema).sidecar as Schema;
    delete sidecar.default;
    sidecar['x-kubernetes-validations'] = [{ rule: 'self.ports.proxy > 0', message: 'needs ports' }];
    expect(defaultProblems(schema)).toEqual([]);
    sidecar.default = {};
    expect(defaultProblems(schema)).toEqual([
      'openAPIV3Schema.properties[spec].properties[sidecar].default: Invalid value: "object": no such key: ports evaluating rule: needs ports',
    ]);
  });

  it('every string and list a CEL rule reads has maxLength/maxItems, and every field it names exists', () => {
    expect(costBoundProblems(auditPolicySchema())).toEqual([]);
  });

  it('finds an unbounded list or string a rule reads, and a misspelt field', () => {
    const schema: Schema = {
      type: 'object',
      properties: {
        tags: { type: 'array', items: { type: 'string' } },
        items: { type: 'array', items: { type: 'object', properties: { n: { type: 'string', maxLength: 3 } }, 'x-kubernetes-validations': [{ rule: "self.n != ''" }] } },
      },
      'x-kubernetes-validations': [{ rule: "self.tags.all(t, t != 'x') && has(self.tagz)" }],
    };
    expect(costBoundProblems(schema)).toEqual([
      `.: rule "self.tags.all(t, t != 'x') && has(self.tagz)" reads self.tagz, which the schema does not have`,
      `.: rule "self.tags.all(t, t != 'x') && has(self.tagz)" reads list self.tags, which has no maxItems`,
      `.: rule "self.tags.all(t, t != 'x') && has(self.tagz)" reads string self.tags[], which has no maxLength`,
      `.items[]: rule "self.n != ''" runs once per item of .items, which has no maxItems`,
    ]);
  });
});
