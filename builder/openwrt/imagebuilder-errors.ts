/**
 * The ImageBuilder's failures as users meet them, turned into one clear line each. The
 * patterns are the messages of OpenWrt's opkg (23.05, 24.10), apk (25.12, snapshots) and the
 * check-size image command; the build runs them over the log of `make image` (openwrt-steps.ts).
 */
export type ImageBuilderProblem =
  | { kind: 'no-such-package'; package: string; message: string }
  | { kind: 'unsatisfied-dependency'; package: string; missing: string[]; message: string }
  | { kind: 'file-clash'; package: string; file: string; other: string; message: string }
  | { kind: 'too-big'; image: string; size: number; limit: number; message: string };

const kib = (n: number): string => `${n.toLocaleString('en-US')} bytes (${(n / 1024).toFixed(0)} KiB)`;

export function explainImageBuilderLog(log: string): ImageBuilderProblem[] {
  const out: ImageBuilderProblem[] = [];
  const lines = log.split('\n').map((l) => l.replace(/\r$/, ''));
  const seen = new Set<string>();
  const add = (p: ImageBuilderProblem): void => {
    if (seen.has(p.message)) return;
    seen.add(p.message);
    out.push(p);
  };
  for (let i = 0; i < lines.length; i++) {
    const l = lines[i]!;
    // opkg: " * satisfy_dependencies_for: Cannot satisfy the following dependencies for fwrunner:"
    let m = /satisfy_dependencies_for: Cannot satisfy the following dependencies for (\S+?):?$/.exec(l);
    if (m) {
      const missing: string[] = [];
      for (let j = i + 1; j < lines.length && /^ \*\s+\S/.test(lines[j]!) && !/^ \*\s+\w+: /.test(lines[j]!); j++) {
        missing.push(lines[j]!.replace(/^ \*\s+/, '').trim());
      }
      add({ kind: 'unsatisfied-dependency', package: m[1]!, missing, message: `package ${m[1]} needs ${missing.join(', ') || 'a package'}, which this release's feeds cannot provide` });
      continue;
    }
    // opkg: " * opkg_install_cmd: Cannot install package foo." without a dependency report: no such package
    m = /opkg_install_cmd: Cannot install package (\S+?)\.?$/.exec(l);
    if (m && !out.some((p) => p.kind === 'unsatisfied-dependency' && p.package === m![1])) {
      add({ kind: 'no-such-package', package: m[1]!, message: `package ${m[1]} is not in this release's package feeds for the target` });
      continue;
    }
    // opkg: " * check_data_file_clashes: Package A wants to install file F" / "\tBut that file is already provided by package  * B"
    m = /check_data_file_clashes: Package (\S+) wants to install file (\S+)/.exec(l);
    if (m) {
      const other = /provided by package\s+\*?\s*(\S+)/.exec(lines[i + 1] ?? '')?.[1] ?? 'another package';
      add({ kind: 'file-clash', package: m[1]!, file: m[2]!, other, message: `packages ${m[1]} and ${other} both install ${m[2]}: choose one` });
      continue;
    }
    // apk: "  foo (no such package):" under "ERROR: unable to select packages:"
    m = /^\s+(\S+) \(no such package\):$/.exec(l);
    if (m) {
      const by = /required by: (.+)$/.exec(lines[i + 1] ?? '')?.[1]?.trim();
      const owner = by && !by.startsWith('world[') ? by.replace(/\[.*$/, '').replace(/-\d[\w.]*-r\d+$/, '') : undefined;
      add(
        owner
          ? { kind: 'unsatisfied-dependency', package: owner, missing: [m[1]!], message: `package ${owner} needs ${m[1]}, which this release's feeds cannot provide` }
          : { kind: 'no-such-package', package: m[1]!, message: `package ${m[1]} is not in this release's package feeds for the target` },
      );
      continue;
    }
    // check-size: "WARNING: Image file /…/openwrt-…-sysupgrade.bin is too big:  16187904 > 15990784"
    m = /Image file (\S+) is too big:\s+(\d+) > (\d+)/.exec(l);
    if (m) {
      const [size, limit] = [Number(m[2]), Number(m[3])];
      const image = m[1]!.split('/').pop()!;
      add({
        kind: 'too-big',
        image,
        size,
        limit,
        message: `${image} is ${kib(size - limit)} too big for the device's flash (${kib(size)} > ${kib(limit)}): leave out packages or files`,
      });
    }
  }
  return out;
}
