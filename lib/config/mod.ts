/**
 * wgsync's configuration: one TOML file with a section per role.
 *
 * @module
 */
export { ConfigError, EX_CONFIG } from "./error.ts";
export {
  DEFAULT_CONFIG_PATH,
  loadConfig,
  type LoadConfigOptions,
  parseConfig,
} from "./load.ts";
export { type Config, configSchema, type ConfigSection } from "./schema.ts";
export { checkSecretFile } from "./secrets.ts";
