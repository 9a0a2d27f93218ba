/**
 * The processes of a pod in the namespace cluster's mini runtime: a container with a `command`
 * runs that program (with its `args`) in the pod's network namespace, as a real container's
 * process would; a container without one is played by the built-in pod server on its ports. Pure.
 */
import type { Pod } from '@podnet/cluster-state';
import { type PodPort, podPorts } from './cluster-objects.js';

/** A program a container of a pod runs. */
export interface ContainerProcess {
  container: string;
  /** `command` then `args`. */
  argv: string[];
}

/** The programs of a pod's containers that have a `command`, in container order. */
export function containerProcesses(pod: Pod): ContainerProcess[] {
  return (pod.spec?.containers ?? []).flatMap((c) =>
    (c.command ?? []).length > 0
      ? [{ container: c.name, argv: [...(c.command ?? []), ...(c.args ?? [])] }]
      : [],
  );
}

/** The ports the built-in server answers on: those of the containers without a `command`. */
export function serverPorts(pod: Pod): PodPort[] {
  const plain = (pod.spec?.containers ?? []).filter((c) => (c.command ?? []).length === 0);
  return podPorts({ ...pod, spec: { ...pod.spec, containers: plain } });
}
