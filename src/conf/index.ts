export { ConfigError, formatProblem, type ConfigErrorCode, type ConfigProblem } from "./errors.ts";
export { DEFAULTS, MODE_PRESETS, ROLE_DEFAULTS, loadConfig, parseConfig, type ParseOptions, type ParseResult } from "./parse.ts";
export { MASK, formatEffectiveConfig, maskSecrets } from "./mask.ts";
export type * from "./types.ts";
export { KCP_BLOCKS, KCP_MODES, LOG_LEVELS } from "./types.ts";
export { pendingDiscovery, type PendingField } from "./discovery.ts";
