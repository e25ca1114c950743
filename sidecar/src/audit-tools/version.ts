// The tool version recorded in packs and reports: the sidecar package's version.
import pkg from '../../package.json' with { type: 'json' };

export const TOOL_VERSION: string = pkg.version;
