/** What the lab's viewer does in a session besides watching (issue 20). */
import type { ViewerAction } from './players/types.js';

/**
 * A viewer's action from the session's seed (so a seed's sessions stay what they were): one
 * session in six pauses for 5-14 s, one in six seeks 10-29 s ahead, 15-34 s into the session.
 */
export function viewerAction(seed: number, seconds: number): ViewerAction | undefined {
  const kind = (['pause', 'seek', undefined, undefined, undefined, undefined] as const)[seed % 6];
  const atS = Math.min(15 + ((seed >> 3) % 20), Math.max(0, seconds - 20));
  if (!kind) return undefined;
  return { kind, atS, forS: kind === 'pause' ? 5 + ((seed >> 8) % 10) : 10 + ((seed >> 8) % 20) };
}
