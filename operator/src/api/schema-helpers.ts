/**
 * TypeBox builders for the shapes a Kubernetes structural schema needs and TypeBox's defaults do
 * not produce: string enums (TypeBox's union of literals becomes anyOf/const, which a CRD schema
 * cannot hold), string maps (TypeBox's Record uses patternProperties, also not allowed) and
 * resource quantities (x-kubernetes-int-or-string).
 * https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema
 */
import { Type, type TSchema, type TUnsafe } from '@sinclair/typebox';

/** maxLength is the longest value: CEL cost estimates size a string by maxLength, not by enum. */
export function StringEnum<const T extends readonly string[]>(values: T, options: { description: string; default?: T[number] }): TUnsafe<T[number]> {
  return Type.Unsafe<T[number]>({ type: 'string', enum: [...values], maxLength: Math.max(...values.map((v) => v.length)), ...options });
}

export function StringMap(options: { description: string; maxProperties?: number }): TUnsafe<Record<string, string>> {
  return Type.Unsafe<Record<string, string>>({ type: 'object', additionalProperties: { type: 'string' }, ...options });
}

/** Resource quantity pattern from k8s.io/apimachinery/pkg/api/resource (the one kube-openapi publishes). */
export const QUANTITY_PATTERN = '^(\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))(([KMGTPE]i)|[numkMGTPE]|([eE](\\+|-)?(([0-9]+(\\.[0-9]*)?)|(\\.[0-9]+))))?$';

export function Quantity(options: { description: string; default?: string }): TUnsafe<string | number> {
  return Type.Unsafe<string | number>({
    'x-kubernetes-int-or-string': true,
    anyOf: [{ type: 'integer' }, { type: 'string' }],
    pattern: QUANTITY_PATTERN,
    ...options,
  });
}

export function QuantityMap(description: string): TUnsafe<Record<string, string | number>> {
  return Type.Unsafe<Record<string, string | number>>({
    type: 'object',
    description,
    additionalProperties: Quantity({ description: 'A resource quantity such as 100m or 128Mi.' }),
  });
}

export interface CelRule {
  rule: string;
  message: string;
  fieldPath?: string;
  // Not FieldValueDuplicate: the API server reports a Duplicate without the message.
  reason?: 'FieldValueInvalid' | 'FieldValueForbidden' | 'FieldValueRequired';
}

/** Options for Type.Object carrying CEL rules (x-kubernetes-validations). */
export function cel(...rules: CelRule[]): { 'x-kubernetes-validations': CelRule[] } {
  return { 'x-kubernetes-validations': rules };
}

export type { TSchema };
