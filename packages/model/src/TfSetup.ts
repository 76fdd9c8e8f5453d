/**
 * tfjs-core on its own registers no gradients, and its ESM build cannot be loaded by Node
 * (directory imports). The @tensorflow/tfjs CommonJS bundle registers every gradient and the
 * cpu backend into tfjs's global registries, which all copies of tfjs-core share. Then the
 * cpu backend's slow broadcasting/transpose kernels are replaced (CpuKernels.ts).
 */
import { createRequire } from "node:module"
import { installCpuKernels } from "./CpuKernels.ts"

createRequire(import.meta.url)("@tensorflow/tfjs")
installCpuKernels()
