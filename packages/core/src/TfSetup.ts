/**
 * tfjs-core on its own registers no gradients, and its ESM build cannot be loaded by Node
 * (directory imports). The @tensorflow/tfjs CommonJS bundle registers every gradient and the
 * cpu backend into tfjs's global registries, which all copies of tfjs-core share.
 */
import { createRequire } from "node:module"

createRequire(import.meta.url)("@tensorflow/tfjs")
