/**
 * tfjs-core on its own registers no gradients. The @tensorflow/tfjs package (its CommonJS build,
 * which is what Node resolves) registers every gradient and the cpu backend into tfjs's global
 * registries, which all copies of tfjs-core share. Then the cpu backend's slow
 * broadcasting/transpose kernels are replaced (CpuKernels.ts). A static import, so that the CLI
 * bundle (scripts/build-cli.mjs) carries it.
 */
import "@tensorflow/tfjs"
import { installCpuKernels } from "./CpuKernels.ts"

installCpuKernels()
