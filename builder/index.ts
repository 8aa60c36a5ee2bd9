/** fwbuild as a library: the CLI (cli.ts) is a thin shell over these. */
export { loadCatalog, Catalog } from './catalog/load.js';
export type { Target, DebianTarget, OpenWrtTarget, Endian, ProviderName, QemuSpec, KernelSpec } from './catalog/target.js';
export { isVirtualRouter, twinOf } from './catalog/target.js';
export { providerOf, type Provider, type TargetPlan } from './provider.js';
export { loadConfig, type LoadConfigOptions } from './config/load.js';
export { defaults, type UserConfig, type ResolvedConfig } from './config/config.js';
export { build, type BuildOptions, type BuildReport } from './pipeline/build.js';
export { planBuild, type BuildRequest } from './pipeline/plan.js';
export { verify, type VerifyReport } from './pipeline/verify.js';
export { fetchOpenWrt } from './openwrt/fetch.js';
export { doctor, type DoctorReport } from './doctor.js';
export { FwbuildError, UsageError, BuildError, InterruptedError } from './errors.js';
export { readElfHeader, EM } from './util/elf.js';
export { fwbuildVersion } from './version.js';
export { testRouter, type RouterTestReport, type RouterLab, type FlowCheck } from './vrouter/router-test.js';
