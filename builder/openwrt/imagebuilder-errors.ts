/**
 * The ImageBuilder's failures as users meet them, turned into one clear line each. The
 * patterns are the messages of OpenWrt's opkg (23.05, 24.10), apk (25.12, snapshots) and the
 * check-size image command; the build runs them over the log of `make image` (openwrt-steps.ts).
 */
export type ImageBuilderProblem =
  | { kind: 'no-such-package'; package: string; message: string }
  | { kind: 'unsatisfied-dependency'; package: string; missing: string[]; message: string }
  | { kind: 'file-clash'; package: string; file: string; other: string; message: string }
  | { kind: 'conflict'; packages: [string, string]; message: string }
  | { kind: 'not-indexed'; file: string; reason: string; message: string }
  | { kind: 'too-big'; image: string; size: number; limit: number; message: string }
  | { kind: 'checked'; message: string };

/** apk names a package with its version (`beta-1.0-r1`); users name it without. */
const apkName = (s: string): string => s.replace(/\[.*$/, '').replace(/-\d[^-]*-r\d+$/, '');

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
    // apk: "ERROR: beta-1.0-r1: trying to overwrite usr/bin/tool owned by alpha-1.0-r1."
    m = /^ERROR: (\S+): trying to overwrite (\S+) owned by (\S+?)\.?$/.exec(l);
    if (m) {
      const [pkg, other] = [apkName(m[1]!), apkName(m[3]!)];
      add({ kind: 'file-clash', package: pkg, file: `/${m[2]}`, other, message: `packages ${pkg} and ${other} both install /${m[2]}: choose one` });
      continue;
    }
    // apk, under "unable to select packages": "  alpha-1.0-r1:" then "    conflicts: beta-1.0-r1[x=1]"
    // (both provide x) or "    breaks: gamma-1.0-r1[!alpha]" (gamma refuses alpha)
    m = /^\s+(conflicts|breaks): (.+)$/.exec(l);
    const head = /^ {2}(\S+):$/.exec(lines[i - 1] ?? '');
    if (m && head) {
      const pkg = apkName(head[1]!);
      for (const dep of m[2]!.trim().split(/\s+/)) {
        const other = apkName(dep);
        const what = /\[(.*)\]$/.exec(dep)?.[1] ?? pkg;
        const pair = [pkg, other].sort() as [string, string];
        add({
          kind: 'conflict',
          packages: pair,
          message:
            m[1] === 'conflicts'
              ? `packages ${pair[0]} and ${pair[1]} both provide ${what.replace(/^!/, '')} and cannot be installed together: keep one`
              : `package ${other} cannot be installed with ${pkg} (it declares ${what}): keep one`,
        });
      }
      continue;
    }
    // apk mkndx (package_index hides its failure): "ERROR: /…/x.apk: file format is invalid or inconsistent"
    m = /^ERROR: (\S+\.apk): (.+)$/.exec(l);
    if (m) {
      const file = m[1]!.split('/').pop()!;
      add({ kind: 'not-indexed', file, reason: m[2]!, message: `apk mkndx cannot index ${file} (${m[2]}), so the ImageBuilder's package index leaves it out` });
      continue;
    }
    // fwbuild's own checks around make image (openwrt-steps.ts) say what they found
    m = /^fwbuild: (.+)$/.exec(l);
    if (m) {
      add({ kind: 'checked', message: m[1]! });
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
