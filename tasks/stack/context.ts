/**
 * What every part of the stack gets while `up` runs: the directory layout,
 * the programs found, and where to record the processes it starts.
 *
 * @module
 */

import type { Layout } from "./layout.ts";
import type { Programs } from "./prerequisites.ts";
import type { StackProcess } from "./types.ts";

/** Shared inputs of the stack parts. */
export interface StackContext {
  layout: Layout;
  programs: Programs;
  /** Records a started process at once, so a failed `up` can stop it. */
  track: (process: StackProcess) => void;
}
