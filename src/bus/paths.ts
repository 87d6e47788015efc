import { join } from "node:path";
import { opensreHome } from "../util/home.js";

/** File name of the bus socket in the home dir; the Python OpenSRE tool uses the same. */
export const BUS_SOCKET_NAME = "agents-bus.sock";

/** `~/.config/opensre/agents-bus.sock`, or under `$OPENSRE_HOME`. */
export function busSocketPath(env: NodeJS.ProcessEnv = process.env): string {
  return join(opensreHome(env), BUS_SOCKET_NAME);
}

/** The PID sidecar: written by the broker on start, removed on stop; liveness is judged from it. */
export function busPidPath(socketPath: string): string {
  return socketPath + ".pid";
}

/** The election lock, flock(2)-ed by every elector (ours and Python's) around check-unlink-bind. */
export function busLockPath(socketPath: string): string {
  return socketPath + ".lock";
}
