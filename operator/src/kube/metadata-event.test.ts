import { describe, expect, it } from 'vitest';
import { parseMetadataWatchLine } from './metadata-event.ts';

const managedFields = [{ manager: 'kubectl', operation: 'Update', apiVersion: 'apps/v1', fieldsType: 'FieldsV1', fieldsV1: { 'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } }, 'f:spec': { 'f:replicas': {} } } }];
/** As the API server writes it: ObjectMeta in Go field order, managedFields last, metadata last. */
function line(metadata: Record<string, unknown>): string {
  return JSON.stringify({ type: 'ADDED', object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata } });
}

describe('parseMetadataWatchLine', () => {
  it('parses a PartialObjectMetadata event without its managedFields and keeps every other field', () => {
    const meta = { name: 'a', namespace: 'ns', uid: 'u1', resourceVersion: '7', labels: { app: 'a' }, annotations: { 'llmaudit.dev/inject': 'true', note: '[x]' }, ownerReferences: [{ apiVersion: 'v1', kind: 'X', name: 'o', uid: 'u0' }], finalizers: ['f'] };
    expect(parseMetadataWatchLine(line({ ...meta, managedFields }))).toEqual({ type: 'ADDED', object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: meta } });
  });

  it('is not fooled by the same words inside strings or as an annotation key', () => {
    const applied = JSON.stringify({ metadata: { name: 'a', managedFields: [{ manager: 'x' }] }, spec: { list: [1, 2] } });
    const meta = { name: 'a', annotations: { 'kubectl.kubernetes.io/last-applied-configuration': applied, managedFields: '[]}}}' } };
    expect(parseMetadataWatchLine(line({ ...meta, managedFields }))).toEqual({ type: 'ADDED', object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: meta } });
    expect(parseMetadataWatchLine(line(meta))).toEqual({ type: 'ADDED', object: { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: meta } });
  });

  it('cuts only the array when fields follow it, and parses a bookmark or an ERROR Status as they are', () => {
    const notLast = JSON.stringify({ type: 'MODIFIED', object: { metadata: { name: 'a', managedFields: [...managedFields, { manager: 'x]"\\', fieldsV1: { 'f:a': {} } }], finalizers: ['f'] } } });
    expect(parseMetadataWatchLine(notLast)).toEqual({ type: 'MODIFIED', object: { metadata: { name: 'a', finalizers: ['f'] } } });
    const bookmark = JSON.stringify({ type: 'BOOKMARK', object: { kind: 'PartialObjectMetadata', metadata: { resourceVersion: '9', annotations: { 'k8s.io/initial-events-end': 'true' } } } });
    expect(parseMetadataWatchLine(bookmark)).toEqual(JSON.parse(bookmark));
    const status = JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired' } });
    expect(parseMetadataWatchLine(status)).toEqual(JSON.parse(status));
  });

  it('throws on a line that is not JSON, as JSON.parse does', () => {
    expect(() => parseMetadataWatchLine('{"type":"ADDED","object":{"metadata":{"name":"a","managedFields":[}}}')).toThrow(SyntaxError);
  });
});
