export { ManifestsSource, type ManifestsSourceOptions } from './manifests-source.js';
export { ParseWorker } from './parse-worker.js';
