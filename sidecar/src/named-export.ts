/**
 * One named export of a package loaded with `import()`, the same in both builds. Node's loader
 * gives a CommonJS package's exports as named exports of the namespace (beside `default`, its
 * `module.exports`). The standalone bundle the images carry (esbuild with code splitting,
 * hack/build.mjs) turns a lazily imported CommonJS package into a chunk whose namespace has only
 * `default` (esbuild issue 3245: ESM output has no run-time exports), so `ns.Name` is undefined
 * there and the package's exports are on `ns.default`.
 */
export function namedExport<M extends object, K extends keyof M & string>(ns: M, name: K): NonNullable<M[K]> {
  const direct = ns[name];
  if (direct !== undefined && direct !== null) return direct as NonNullable<M[K]>;
  const viaDefault = (ns as { default?: Partial<M> }).default?.[name];
  if (viaDefault !== undefined && viaDefault !== null) return viaDefault as NonNullable<M[K]>;
  throw new Error(`the imported module has no export named ${name}`);
}
