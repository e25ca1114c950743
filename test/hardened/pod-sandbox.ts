/**
 * Runs a container spec the way a kubelet would run it from our images, without a container
 * engine: bubblewrap (bwrap) builds the container's view of the file system from the image's
 * Dockerfile (USER, WORKDIR, ENV, ENTRYPOINT/CMD, the bundle COPY'd to /app) and the pod's
 * container (securityContext, volumeMounts, env, command/args).
 *
 * What is modelled, and how:
 * - runAsUser/runAsGroup: bwrap runs as that host UID (when the test runs as root) inside a user
 *   namespace mapping it to itself, so file permissions are checked for a real non-root user.
 * - readOnlyRootFilesystem: every host path is bind-mounted read-only; directories that must
 *   hold a mount point are made on a tmpfs root that is remounted read-only at the end.
 * - volumeMounts: emptyDir → a tmpfs (sizeLimit → --size); configMap/secret → a read-only bind of
 *   a host folder written with the volume's file modes; persistentVolumeClaim → a read-write bind
 *   of a host folder owned by the container's UID (readOnly mounts are read-only binds).
 * - capabilities.drop [ALL] → --cap-drop ALL; allowPrivilegeEscalation: false → bwrap always sets
 *   no_new_privs. The process's /proc/<pid>/status shows both.
 * - env: exactly the image's ENV, the variables a container runtime and the kubelet add (PATH and
 *   SSL_CERT_FILE of the distroless base, HOSTNAME, HOME=/ for a UID without a passwd entry, the
 *   kubernetes Service variables) and the container's env with its fieldRefs resolved.
 * Not modelled: seccompProfile (bwrap takes a compiled BPF program only), resource limits.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { chmod, chown, mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { createInterface } from 'node:readline';
import type { Container, PodSecurityContext, Volume } from '../../operator/src/inject/pod-types.ts';

/** The final stage of one of our Dockerfiles, as the container runtime sees it. */
export interface ImageConfig {
  uid: number;
  gid: number;
  workdir: string;
  env: Record<string, string>;
  entrypoint: string[];
  cmd: string[];
  /** Where `COPY --from=build /out/ <dir>` puts the bundle. */
  appDir: string;
}

/** Image config of gcr.io/distroless/nodejs20-debian12 (the base of both images). */
const DISTROLESS_ENV = { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', SSL_CERT_FILE: '/etc/ssl/certs/ca-certificates.crt' };

/**
 * `ENV KEY=VALUE ...` in the Dockerfile form: a value is bare, "double-quoted" (backslash escapes)
 * or 'single-quoted'. The legacy `ENV KEY VALUE` form is refused.
 */
export function parseEnvInstruction(text: string, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  const pair = /\s*([A-Za-z_][A-Za-z0-9_]*)=(?:"((?:[^"\\]|\\.)*)"|'([^']*)'|([^\s"']*))(?=\s|$)/y;
  let at = 0;
  while (at < text.length && text.slice(at).trim() !== '') {
    pair.lastIndex = at;
    const m = pair.exec(text);
    if (m === null) throw new Error(`${where}: ENV ${text} is not KEY=VALUE pairs`);
    out[m[1]!] = m[2] !== undefined ? m[2].replace(/\\(.)/g, '$1') : (m[3] ?? m[4] ?? '');
    at = pair.lastIndex;
  }
  return out;
}

/** The arguments of each `name` instruction in the final stage of a Dockerfile (continuations joined). */
function finalStage(dockerfile: string): (name: string) => string[] {
  const text = readFileSync(dockerfile, 'utf8').replace(/\\\n/g, ' ');
  const lines = text.split('\n');
  const lastFrom = lines.findLastIndex((l) => /^FROM\s/i.test(l));
  const final = lines.slice(lastFrom + 1).filter((l) => l.trim() !== '' && !l.startsWith('#'));
  return (name) => final.filter((l) => new RegExp(`^${name}\\s`, 'i').test(l)).map((l) => l.slice(name.length).trim());
}

/** The variables the Dockerfile's final stage sets itself (its ENV instructions, not the base image's). */
export function dockerfileEnv(dockerfile: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const e of finalStage(dockerfile)('ENV')) Object.assign(env, parseEnvInstruction(e, dockerfile));
  return env;
}

export function readImageConfig(dockerfile: string): ImageConfig {
  const instr = finalStage(dockerfile);
  const one = (name: string): string => {
    const all = instr(name);
    if (all.length !== 1) throw new Error(`${dockerfile}: expected one ${name} in the final stage, found ${all.length}`);
    return all[0]!;
  };
  const env: Record<string, string> = { ...DISTROLESS_ENV, ...dockerfileEnv(dockerfile) };
  const [uid, gid] = one('USER').split(':').map((n) => Number.parseInt(n, 10));
  if (uid === undefined || Number.isNaN(uid)) throw new Error(`${dockerfile}: USER must be numeric`);
  const copy = instr('COPY').find((c) => c.includes('--from=build'));
  const appDir = copy?.split(/\s+/).at(-1);
  if (appDir === undefined) throw new Error(`${dockerfile}: no COPY --from=build`);
  return {
    uid,
    gid: gid ?? uid,
    workdir: one('WORKDIR'),
    env,
    entrypoint: JSON.parse(one('ENTRYPOINT')) as string[],
    cmd: JSON.parse(one('CMD')) as string[],
    appDir: appDir.replace(/\/$/, ''),
  };
}

export interface Mount {
  kind: 'ro-bind' | 'bind' | 'tmpfs';
  dest: string;
  src?: string;
  /** tmpfs size in bytes. */
  size?: number;
}

/** One container, ready to run in bwrap. */
export interface SandboxPlan {
  uid: number;
  gid: number;
  cwd: string;
  env: Record<string, string>;
  argv: string[];
  mounts: Mount[];
  capDropAll: boolean;
}

export interface PodFacts {
  name: string;
  namespace: string;
  uid: string;
  nodeName: string;
}

export interface PlanInput {
  image: ImageConfig;
  /** Host folder holding the image's bundle (mounted at image.appDir). */
  appSource: string;
  container: Container;
  podSecurityContext?: PodSecurityContext;
  volumes: Volume[];
  /** Host folder for each configMap/secret/persistentVolumeClaim volume, by volume name. */
  volumeSources: Record<string, string>;
  pod: PodFacts;
  /** Variables the runtime adds besides PATH/HOME/HOSTNAME (KUBERNETES_SERVICE_HOST/PORT). */
  serviceEnv: Record<string, string>;
}

const QUANTITY = /^(\d+)(Ki|Mi|Gi)?$/;
function bytes(q: string): number {
  const m = QUANTITY.exec(q);
  if (m === null) throw new Error(`quantity ${q} not understood`);
  const unit = m[2] === undefined ? 1 : { Ki: 1024, Mi: 1024 ** 2, Gi: 1024 ** 3 }[m[2]]!;
  return Number(m[1]) * unit;
}

function fieldValue(fieldPath: string, pod: PodFacts): string {
  const values: Record<string, string> = { 'metadata.name': pod.name, 'metadata.namespace': pod.namespace, 'metadata.uid': pod.uid, 'spec.nodeName': pod.nodeName };
  const v = values[fieldPath];
  if (v === undefined) throw new Error(`fieldRef ${fieldPath} is not modelled`);
  return v;
}

/** Translates image + container into a sandbox; throws on anything it cannot model faithfully. */
export function planContainer(input: PlanInput): SandboxPlan {
  const { image, container, pod } = input;
  const sc = { ...(input.podSecurityContext ?? {}), ...(container.securityContext ?? {}) };
  const uid = sc.runAsUser ?? image.uid;
  const gid = sc.runAsGroup ?? (sc.runAsUser === undefined ? image.gid : uid);
  if (sc.runAsNonRoot === true && uid === 0) throw new Error('runAsNonRoot with UID 0: the kubelet would refuse to start it');
  if (sc.readOnlyRootFilesystem !== true) throw new Error('only readOnlyRootFilesystem: true is modelled');
  if (sc.allowPrivilegeEscalation !== false) throw new Error('only allowPrivilegeEscalation: false is modelled (bwrap sets no_new_privs)');
  const drop = sc.capabilities?.drop ?? [];
  if ((sc.capabilities?.add ?? []).length > 0) throw new Error('added capabilities are not modelled');

  const mounts: Mount[] = [{ kind: 'ro-bind', dest: image.appDir, src: input.appSource }];
  const volumes = new Map(input.volumes.map((v) => [v.name, v]));
  for (const vm of (container.volumeMounts ?? []) as Array<{ name: string; mountPath: string; readOnly?: boolean; subPath?: string }>) {
    const v = volumes.get(vm.name);
    if (v === undefined) throw new Error(`volumeMount ${vm.name} has no volume`);
    if (v.emptyDir !== undefined) {
      const limit = (v.emptyDir as { sizeLimit?: string }).sizeLimit;
      mounts.push({ kind: 'tmpfs', dest: vm.mountPath, ...(limit === undefined ? {} : { size: bytes(limit) }) });
      continue;
    }
    if (v.configMap === undefined && v.secret === undefined && v.persistentVolumeClaim === undefined) throw new Error(`volume ${vm.name}: kind not modelled`);
    const src = input.volumeSources[vm.name];
    if (src === undefined) throw new Error(`volume ${vm.name}: no host folder given`);
    const readOnly = vm.readOnly === true || v.configMap !== undefined || v.secret !== undefined;
    mounts.push({ kind: readOnly ? 'ro-bind' : 'bind', dest: vm.mountPath, src: vm.subPath === undefined ? src : path.join(src, vm.subPath) });
  }

  const env: Record<string, string> = { ...image.env, HOSTNAME: pod.name, HOME: '/', ...input.serviceEnv };
  for (const e of container.env ?? []) {
    const ref = (e.valueFrom as { fieldRef?: { fieldPath: string } } | undefined)?.fieldRef;
    if (e.value !== undefined) env[e.name] = e.value;
    else if (ref !== undefined) env[e.name] = fieldValue(ref.fieldPath, pod);
    else throw new Error(`env ${e.name}: source not modelled`);
  }
  const command = (container.command as string[] | undefined) ?? image.entrypoint;
  const args = (container.args as string[] | undefined) ?? (container.command === undefined ? image.cmd : []);
  return { uid, gid, cwd: (container.workingDir as string | undefined) ?? image.workdir, env, argv: [...command, ...args], mounts, capDropAll: drop.includes('ALL') };
}

/**
 * The read-only host view: every top-level entry bind-mounted read-only, except along the paths
 * to the plan's mount points, which become directories on the (later read-only) tmpfs root with
 * their host siblings bound beside them.
 */
function readOnlyHostView(holes: string[]): string[] {
  const prefixes = new Set<string>();
  for (const h of holes) for (let d = path.dirname(h); d !== '/'; d = path.dirname(d)) prefixes.add(d);
  const out: string[] = [];
  for (const d of [...prefixes].sort()) out.push('--dir', d);
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const p = path.join(dir, name);
      if (holes.includes(p)) continue;
      const st = lstatSync(p);
      if (prefixes.has(p)) {
        if (st.isDirectory()) walk(p);
        continue;
      }
      if (st.isSymbolicLink()) out.push('--symlink', readlinkSync(p), p);
      else out.push('--ro-bind', p, p);
    }
  };
  walk('/');
  return out;
}

/** The binary the entrypoint names, taken from the host: the image's /nodejs/bin/node is this node. */
export function bwrapArgs(plan: SandboxPlan, hostBinaries: Record<string, string>): string[] {
  const mounts: Mount[] = [...plan.mounts, ...Object.entries(hostBinaries).map(([dest, src]): Mount => ({ kind: 'ro-bind', dest, src }))];
  const holes = ['/proc', '/dev', ...mounts.map((m) => m.dest)];
  const args = ['--unshare-user', '--uid', String(plan.uid), '--gid', String(plan.gid), '--die-with-parent'];
  if (plan.capDropAll) args.push('--cap-drop', 'ALL');
  args.push(...readOnlyHostView(holes), '--proc', '/proc', '--dev', '/dev');
  // Parents before children (a log volume under a tmpfs would otherwise be hidden by it).
  for (const m of [...mounts].sort((a, b) => a.dest.split('/').length - b.dest.split('/').length)) {
    if (m.kind === 'tmpfs') args.push('--perms', '1777', ...(m.size === undefined ? [] : ['--size', String(m.size)]), '--tmpfs', m.dest);
    else args.push(`--${m.kind}`, m.src!, m.dest);
  }
  args.push('--remount-ro', '/', '--chdir', plan.cwd, '--clearenv');
  for (const [k, v] of Object.entries(plan.env)) args.push('--setenv', k, v);
  return [...args, '--', ...plan.argv];
}

/** The bwrap binary, or undefined when it is not installed. */
export function findBwrap(): string | undefined {
  const r = spawnSync('bwrap', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? 'bwrap' : undefined;
}

export interface Sandboxed {
  bwrap: ChildProcess;
  /** The host PID of the contained process (bwrap's --json-status-fd). */
  pid: Promise<number>;
  lines: Array<Record<string, unknown>>;
  /** Every stdout line that is not JSON, and every stderr line. */
  text: string[];
  waitFor(msg: string): Promise<Record<string, unknown>>;
  /** bwrap's exit code: the contained process's. */
  exited: Promise<number | null>;
  /** The container's output, for failure messages and for scanning. */
  output(): string;
}

/** Starts the plan in bwrap. As root, bwrap itself runs as the plan's UID/GID (no host privilege). */
export function startSandbox(plan: SandboxPlan, hostBinaries: Record<string, string>, stdin?: string): Sandboxed {
  const asUser = process.getuid?.() === 0 ? { uid: plan.uid, gid: plan.gid } : {};
  const bwrap = spawn('bwrap', ['--json-status-fd', '3', ...bwrapArgs(plan, hostBinaries)], { cwd: '/', env: {}, stdio: [stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe', 'pipe'], ...asUser });
  if (stdin !== undefined) bwrap.stdin!.end(stdin);
  const lines: Array<Record<string, unknown>> = [];
  const text: string[] = [];
  const waiters: Array<{ msg: string; resolve: (l: Record<string, unknown>) => void }> = [];
  createInterface({ input: bwrap.stdout! }).on('line', (l) => {
    let rec: Record<string, unknown>;
    try {
      rec = JSON.parse(l) as Record<string, unknown>;
    } catch {
      text.push(l);
      return;
    }
    lines.push(rec);
    for (const w of waiters.filter((x) => x.msg === rec.msg)) w.resolve(rec);
  });
  createInterface({ input: bwrap.stderr! }).on('line', (l) => text.push(l));
  const exited = new Promise<number | null>((resolve) => bwrap.once('close', (code) => resolve(code)));
  const output = (): string => [...lines.map((l) => JSON.stringify(l)), ...text].join('\n');
  const pid = new Promise<number>((resolve, reject) => {
    let buf = '';
    (bwrap.stdio[3] as NodeJS.ReadableStream).on('data', (c: Buffer) => {
      buf += c.toString('utf8');
      const m = /"child-pid"\s*:\s*(\d+)/.exec(buf);
      if (m !== null) resolve(Number(m[1]));
    });
    void exited.then((code) => reject(new Error(`bwrap exited ${code} before starting the process:\n${output()}`)));
  });
  return {
    bwrap,
    pid,
    lines,
    text,
    exited,
    output,
    waitFor: (msg) =>
      new Promise((resolve, reject) => {
        const seen = lines.find((l) => l.msg === msg);
        if (seen !== undefined) return resolve(seen);
        waiters.push({ msg, resolve });
        void exited.then((code) => reject(new Error(`exited ${code} before "${msg}":\n${output()}`)));
      }),
  };
}

/** Identity and privileges of a running process, from the host's /proc. */
export function processStatus(pid: number): Record<string, string> {
  const out: Record<string, string> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0) out[line.slice(0, i)] = line.slice(i + 1).trim();
  }
  return out;
}

/** The host UID the contained process has: the plan's when the test runs as root, else the caller's. */
export function expectedHostUid(plan: SandboxPlan): number {
  return process.getuid?.() === 0 ? plan.uid : (process.getuid?.() ?? plan.uid);
}

/** Fails (CI) or explains the skip (a workstation without bubblewrap). */
export function bwrapRequirement(): { run: boolean; reason?: string } {
  if (findBwrap() !== undefined) {
    // bwrap runs unprivileged (as UID 10001 when we are root): that needs user namespaces.
    const asUser = process.getuid?.() === 0 ? { uid: 10001, gid: 10001 } : {};
    const probe = spawnSync('bwrap', ['--ro-bind', '/', '/', '--unshare-user', '--uid', '10001', '--gid', '10001', '--', 'true'], { cwd: '/', encoding: 'utf8', ...asUser });
    if (probe.status !== 0) {
      throw new Error(`bwrap cannot create an unprivileged user namespace here (${probe.stderr.trim()}); allow them (sysctl kernel.unprivileged_userns_clone=1, or on Ubuntu kernel.apparmor_restrict_unprivileged_userns=0)`);
    }
    return { run: true };
  }
  if (process.env.CI !== undefined && process.env.CI !== '') {
    throw new Error('bwrap is missing in CI: hack/install-tools.sh installs bubblewrap (make install)');
  }
  return { run: false, reason: 'bwrap (bubblewrap) is not installed: the hardened-runtime tests do not run here; install it with `sudo bash hack/install-tools.sh` or apt-get install bubblewrap' };
}

/**
 * Writes a Secret/ConfigMap volume's files the way the kubelet does: owned by root, with the
 * item's mode or the volume's defaultMode (0644 when unset); with a pod fsGroup the group is the
 * fsGroup and group read is added (SetVolumeOwnership). Ownership is only set when the test runs
 * as root, the only case where it changes what the contained process may read.
 */
export async function writeKubeletVolume(dir: string, volume: Volume, files: Record<string, string>, podSecurityContext?: PodSecurityContext): Promise<void> {
  const source = (volume.secret ?? volume.configMap) as { defaultMode?: number; items?: Array<{ path: string; mode?: number }> } | undefined;
  if (source === undefined) throw new Error(`volume ${volume.name} is not a Secret or ConfigMap`);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  const fsGroup = podSecurityContext?.fsGroup;
  for (const [name, text] of Object.entries(files)) {
    const file = path.join(dir, name);
    let mode = source.items?.find((i) => i.path === name)?.mode ?? source.defaultMode ?? 0o644;
    if (fsGroup !== undefined) mode |= 0o440;
    await writeFile(file, text);
    if (process.getuid?.() === 0) await chown(file, 0, fsGroup ?? 0);
    await chmod(file, mode);
  }
}
