/**
 * Where a router runs the video-quality model, as data: the config's `inference` picks a row,
 * and the build ships what that row names, nothing more (docs/in-kernel-model.md).
 * - quickjs: the flow table's programs; the runner reads it every window and runs the QuickJS model;
 * - kernel: the programs with the in-kernel forest (answers in the fw_windows map); no QuickJS model;
 * - both: the in-kernel forest and the QuickJS model, side by side in every flow line.
 */
export const INFERENCE = {
  quickjs: { bpfGoal: 'all', object: 'fw_flows.bpf.o', quickjs: true },
  kernel: { bpfGoal: 'forest', object: 'fw_flows_forest.bpf.o', quickjs: false },
  both: { bpfGoal: 'forest', object: 'fw_flows_forest.bpf.o', quickjs: true },
} as const;

export type Inference = keyof typeof INFERENCE;
export const inferenceChoices = Object.keys(INFERENCE) as Inference[];

/** Where every router keeps the toolkit's BPF object and model; the shipped /etc/config/fwrunner names the same paths. */
export const TOOLKIT_PATHS = {
  objectDir: 'usr/lib/fwrunner',
  modelDir: 'usr/share/fwrunner',
  model: 'usr/share/fwrunner/model.qbc',
  uci: 'etc/config/fwrunner',
} as const;

/** The runner's UCI options for a choice: the object it loads, and its model ('none': the kernel's answers only). */
export function runnerOptions(inference: Inference): { object: string; model: string } {
  const use = INFERENCE[inference];
  return { object: `/${TOOLKIT_PATHS.objectDir}/${use.object}`, model: use.quickjs ? `/${TOOLKIT_PATHS.model}` : 'none' };
}
