export { SidecarConfigSchema, EndpointSchema, ListenerSchema, type SidecarConfig, type EndpointConfig, type ListenerConfig } from './schema.ts';
export { parseSidecarConfig, CONFIG_ERRORS } from './validate.ts';
