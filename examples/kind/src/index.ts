export {
  checkUnknownFields,
  loadManifests,
  validateSchemas,
  type ManifestDoc,
  type ManifestProblem,
} from './manifests.js';
export { checkKindConfig } from './kind-config.js';
export { buildSea, type SeaBuild } from './sea.js';
