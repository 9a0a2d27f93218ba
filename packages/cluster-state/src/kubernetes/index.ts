export {
  KubernetesSource,
  type KubernetesSourceOptions,
} from './kubernetes-source.js';
